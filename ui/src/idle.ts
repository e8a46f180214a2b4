// When the person is busy: the time of their last key, click or scroll,
// so background work (the catalog's refresh after launch) can wait until
// they pause instead of sharing the store with the look-up they opened
// the app for.

/** `Date.now()` of the last input seen (the start counts as one). */
let lastInput = Date.now();

/** Note every key, click and scroll in `target` from now on. */
export function watchInput(target: EventTarget = document): void {
  const seen = () => {
    lastInput = Date.now();
  };
  for (const type of ["keydown", "pointerdown", "wheel"]) target.addEventListener(type, seen, { capture: true, passive: true });
}

/** Resolves once no input was seen for `quietMs`. */
export function whenIdle(quietMs: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      const left = lastInput + quietMs - Date.now();
      if (left <= 0) resolve();
      else setTimeout(check, left);
    };
    check();
  });
}
