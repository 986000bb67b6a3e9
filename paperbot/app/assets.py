"""The app's CSS and the one piece of page JavaScript: citation links open their card in the sources panel."""

from __future__ import annotations

CSS = """
.pb-sources { font-size: 0.92rem; line-height: 1.45; }
.pb-sources.pb-empty, .pb-notice { color: var(--body-text-color-subdued); padding: 0.6rem 0.2rem; }
.pb-turn-block { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.4rem 0.7rem;
  margin-bottom: 0.6rem; background: var(--background-fill-secondary); }
.pb-turn-block > summary { cursor: pointer; font-weight: 600; padding: 0.2rem 0; }
.pb-turn { display: inline-block; min-width: 2.2em; color: var(--color-accent); }
.pb-source { border-left: 3px solid var(--border-color-primary); padding: 0.35rem 0.6rem; margin: 0.5rem 0;
  background: var(--background-fill-primary); border-radius: 4px; transition: background 0.3s, border-color 0.3s; }
.pb-source.pb-active { border-left-color: var(--color-accent); background: var(--color-accent-soft);
  box-shadow: 0 0 0 2px var(--color-accent); }
.pb-source-title { font-weight: 600; }
.pb-key { display: inline-block; font-size: 0.8em; font-weight: 700; padding: 0 0.35em; border-radius: 4px;
  background: var(--color-accent-soft); color: var(--color-accent); margin-right: 0.2em; }
.pb-meta { color: var(--body-text-color-subdued); font-size: 0.85em; }
/* Ids and URLs are long unbroken strings: they alone may wrap anywhere, so a narrow screen never scrolls sideways
   and prose never breaks mid-word. */
.pb-id { overflow-wrap: anywhere; }
/* A setting that cannot be changed (no LLM configured) must not look editable. */
#pb-tab-settings textarea:disabled, #pb-tab-settings input:disabled { cursor: not-allowed; opacity: 0.6;
  background: var(--background-fill-secondary); color: var(--body-text-color-subdued); }
#pb-tab-settings label:has(input:disabled), #pb-tab-settings .disabled { cursor: not-allowed; opacity: 0.6; }
.pb-evidence { margin: 0.3rem 0 0.1rem; }
.pb-cited { margin: 0.35rem 0 0.2rem; padding: 0; border: none; }
.pb-cited p { margin: 0.15rem 0; }
.pb-more > summary { cursor: pointer; font-size: 0.82em; color: var(--body-text-color-subdued); }
.pb-cited mark, .pb-evidence mark, .pb-abstract mark { background: #fff3b0; color: inherit; padding: 0 1px;
  border-radius: 2px; }
.dark .pb-evidence mark, .dark .pb-abstract mark { background: #6b5900; }
.pb-abstract mark sup { font-size: 0.7em; color: var(--body-text-color-subdued); margin-left: 2px; }
.pb-subhead { font-weight: 600; margin: 0.6rem 0 0.2rem; font-size: 0.9em; }
.pb-sentences { padding-left: 1.2rem; margin: 0.2rem 0; }
.pb-sentences li { margin: 0.25rem 0; }
.pb-flag { font-size: 0.78em; font-weight: 600; padding: 0 0.4em; border-radius: 999px; white-space: nowrap; }
.pb-ok { background: #dcfce7; color: #166534; }
.pb-weak { background: #fef3c7; color: #92400e; }
.pb-added { background: #e0f2fe; color: #075985; }
p.pb-weak { padding: 0.2rem 0.5rem; border-radius: 4px; }
.pb-keys { color: var(--body-text-color-subdued); font-size: 0.85em; }
.pb-footer { color: var(--body-text-color-subdued); font-size: 0.8em; margin-top: 0.4rem; }
.pb-cannot, .pb-error { font-weight: 600; color: #b45309; }
.pb-paper-title { margin: 0 0 0.2rem; }
.pb-summary dl { display: grid; grid-template-columns: 8.5em 1fr; gap: 0.3rem 0.8rem; margin: 0; }
.pb-summary dt { font-weight: 600; }
.pb-summary dd { margin: 0; }
.pb-compare table { border-collapse: collapse; width: 100%; font-size: 0.88rem; }
.pb-compare th, .pb-compare td { border: 1px solid var(--border-color-primary); padding: 0.35rem 0.5rem;
  vertical-align: top; text-align: left; }
.pb-theme h4 { margin-bottom: 0.1rem; }
.pb-skipped li { margin: 0.15rem 0; }
"""

# Gradio renders chat Markdown links as new-tab links; a citation must instead open its card on this page.
JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest ? event.target.closest('a[href*="#pb-src-"]') : null;
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const id = decodeURIComponent(link.getAttribute("href").split("#").pop());
    const card = document.getElementById(id);
    if (!card) return;
    for (let node = card; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    document.querySelectorAll(".pb-source.pb-active").forEach((n) => n.classList.remove("pb-active"));
    card.classList.add("pb-active");
    card.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }, true);
}
"""
