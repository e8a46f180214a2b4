// Find in a transcript, the logic: where a text occurs in the
// conversation's messages (its data, not only the messages rendered so
// far), and how next/previous move through the matches.

/** One occurrence: message `message`, characters `start` to `end` (UTF-16 offsets, as the DOM counts). */
export interface FindMatch {
  message: number;
  start: number;
  end: number;
}

/** Matches beyond this many are not counted (a one-letter search of a 10k-message conversation). */
export const MAX_MATCHES = 10_000;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Every caseless occurrence of `query` in `texts`, in order, at most `limit`. */
export function findMatches(texts: readonly string[], query: string, limit = MAX_MATCHES): FindMatch[] {
  const out: FindMatch[] = [];
  if (!query) return out;
  const re = new RegExp(escapeRegExp(query), "giu");
  for (let message = 0; message < texts.length && out.length < limit; message++) {
    re.lastIndex = 0;
    for (const m of texts[message].matchAll(re)) {
      out.push({ message, start: m.index, end: m.index + m[0].length });
      if (out.length >= limit) break;
    }
  }
  return out;
}

/** The match after (`direction` 1) or before (-1) `current`, wrapping; -1 when there is none. */
export function stepMatch(current: number, total: number, direction: 1 | -1): number {
  if (total === 0) return -1;
  if (current < 0) return direction === 1 ? 0 : total - 1;
  return (current + direction + total) % total;
}

/** The first match at or after message `message` (for a link to a message); 0 if none is. */
export function firstMatchFrom(matches: readonly FindMatch[], message: number): number {
  const i = matches.findIndex((m) => m.message >= message);
  return i < 0 ? 0 : i;
}

/** What the find bar says: "3 of 12", "No matches", "1 of 10000+" when capped. */
export function matchLabel(current: number, total: number, limit = MAX_MATCHES): string {
  if (total === 0) return "No matches";
  const of = total >= limit ? `${total}+` : String(total);
  return `${current < 0 ? 0 : current + 1} of ${of}`;
}
