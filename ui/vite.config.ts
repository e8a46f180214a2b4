import { defineConfig } from "vite";

// Built into ui/dist, which tauri.conf.json embeds. No inline scripts or
// styles are emitted, so the strict CSP holds.
export default defineConfig({
  clearScreen: false,
  build: { outDir: "dist", emptyOutDir: true, target: "safari15", assetsInlineLimit: 0 },
  test: { environment: "jsdom", globals: true },
});
