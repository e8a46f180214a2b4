import type { SearchHit } from "../bindings/SearchHit";
import type { UserMatch } from "../bindings/UserMatch";
import type { UserSummary } from "../bindings/UserSummary";
import { day, h } from "../dom";
import { count, groupHits, userLabel } from "../logic";

const MATCHED: Record<SearchHit["matched"], string> = {
  email: "email",
  email_prefix: "email",
  title_prefix: "title",
  email_contains: "email",
  title_contains: "title",
};

/**
 * Catalog search results: hits grouped under their user, a page at a time
 * ("More results" fetches the next). Titles and emails are archive content,
 * so they only ever go in as text.
 */
export class SearchResults {
  readonly el: HTMLElement = h("div", { class: "search-results", role: "listbox", tabindex: "0", "aria-label": "Search results" });
  private hits: SearchHit[] = [];
  selected = 0;

  constructor(
    private readonly onOpenUser: (folder: string, email: string | null) => void,
    private readonly onOpenHit: (hit: SearchHit) => void,
  ) {}

  /**
   * Show `hits` for `query`; `more` fetches the next page when there is
   * one. `empties`: users matched by email whose index holds no
   * conversation (no hit can name them), listed first, saying so.
   */
  show(query: string, hits: SearchHit[], more: (() => void) | null, empties: UserMatch[] = [], found: UserSummary | null = null): void {
    this.hits = hits;
    this.selected = Math.min(this.selected, Math.max(hits.length - 1, 0));
    const nodes: Node[] = [h("div", { class: "results-head meta", text: hits.length ? `${count(hits.length, "conversation")}${more ? "+" : ""} matching “${query}”` : "" })];
    // A user found in the bucket is named once: as one without conversations if the catalog says so.
    if (found && !empties.some((u) => u.folder === found.folder)) {
      nodes.push(
        h("button", { class: "hit-user found-user", "data-folder": found.folder, title: `Open ${userLabel(found)}`, onclick: () => this.onOpenUser(found.folder, found.email), text: userLabel(found) }),
        h("div", { class: "meta user-note", text: `Read from the bucket now: ${count(found.conversation_count, "conversation")}` }),
      );
    }
    for (const u of empties) {
      nodes.push(
        h("button", { class: "hit-user empty-user", "data-folder": u.folder, title: `Open ${u.email ?? u.folder}`, onclick: () => this.onOpenUser(u.folder, u.email), text: u.email ?? u.folder }),
        h("div", { class: "meta user-note", text: u.index_error ? `metadata.json unreadable, so no conversation listed: ${u.index_error}` : "Its index holds no conversation." }),
      );
    }
    if (hits.length === 0 && empties.length === 0 && !found) {
      nodes.push(h("div", { class: "empty" }, h("h2", { text: "No matches" }), h("p", { text: `No email or title contains “${query}”. Try part of an email, or a word from the title.` })));
    }
    let i = 0;
    for (const group of groupHits(hits)) {
      nodes.push(
        h("button", { class: "hit-user", title: `Open ${group.email ?? group.folder}`, onclick: () => this.onOpenUser(group.folder, group.email), text: group.email ?? group.folder }),
      );
      for (const hit of group.hits) {
        const index = i++;
        nodes.push(
          h(
            "div",
            {
              class: `hit${index === this.selected ? " selected" : ""}`,
              role: "option",
              "aria-selected": index === this.selected ? "true" : "false",
              "data-id": hit.conversation_id,
              onclick: () => {
                this.select(index);
                this.onOpenHit(hit);
              },
            },
            h("div", { class: "hit-title", text: hit.title ?? hit.conversation_id }),
            h(
              "div",
              { class: "meta" },
              `${day(hit.archived_at ?? hit.created_at)} · ${hit.message_count === null ? "— messages" : count(hit.message_count, "message")}`,
              hit.storage_class && hit.storage_class !== "STANDARD" ? h("span", { class: "badge cold", text: hit.storage_class }) : null,
              h("span", { class: "badge", text: `matched ${MATCHED[hit.matched]}` }),
            ),
          ),
        );
      }
    }
    if (more) nodes.push(h("button", { class: "more", text: "More results", onclick: more }));
    this.el.replaceChildren(...nodes);
  }

  get length(): number {
    return this.hits.length;
  }

  get current(): SearchHit | undefined {
    return this.hits[this.selected];
  }

  select(i: number): void {
    this.selected = i;
    this.el.querySelectorAll(".hit").forEach((el, n) => {
      el.classList.toggle("selected", n === i);
      el.setAttribute("aria-selected", n === i ? "true" : "false");
      if (n === i) el.scrollIntoView?.({ block: "nearest" }); // absent in jsdom
    });
  }
}
