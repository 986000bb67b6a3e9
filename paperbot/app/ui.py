"""The Gradio Blocks layout (Chat, Papers, Digest & compare, Ingest, Settings) wired to the handlers and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from paperbot.app.api import Api
from paperbot.app.chat import Chat, panel
from paperbot.app.conversation import FeedbackLog
from paperbot.app.library import COMPARE_FROM_QUERY, TABLE_HEADERS, Library, notice
from paperbot.app.tab_settings import TabSettings
from paperbot.app.uploads import ALLOWED_SUFFIXES, UploadLimits
from paperbot.app.views import esc, md, redact_url
from paperbot.bot import PaperBot
from paperbot.summary_types import DEFAULT_ASPECTS
from paperbot.text.wording import counted
from paperbot.types import Mode

EXAMPLES = [
    "Which papers speed up decoding with a small draft model?",
    "Which papers reduce KV cache memory, and by how much?",
    "How do papers make attention cheaper for long contexts?",
]


@dataclass(frozen=True)
class AppOptions:
    limits: UploadLimits = field(default_factory=UploadLimits)
    feedback_file: Path | None = None  # default: feedback.jsonl in the store's data dir
    out_dir: Path | None = None  # exports and downloads; default: a fresh temp folder


def _status(tab: TabSettings) -> str:
    mode = f"LLM {tab.model}, temperature {tab.temperature:g}" if tab.mode == Mode.LLM else "extractive (no LLM)"
    return (f"<span class='pb-meta'>Answering with {esc(mode)} · {counted(tab.k, 'paper')} as evidence · change in "
            "Settings</span>")


def build_app(bot: PaperBot, options: AppOptions | None = None) -> gr.Blocks:
    options = options or AppOptions()
    feedback = FeedbackLog(options.feedback_file or bot.settings.data_dir / "feedback.jsonl")
    chat = Chat(bot, feedback, options.out_dir)
    library = Library(bot, options.limits, options.out_dir)
    api = Api(bot)
    defaults = TabSettings.defaults(bot)
    llm_available = bot.settings.llm_configured
    private = {"api_visibility": "private"}  # UI events; clients use the named endpoints below

    with gr.Blocks(title="paperbot", analytics_enabled=False) as demo:
        tab_state = gr.State(defaults)
        turns = gr.State([])
        selected = gr.State(None)
        gr.HTML("<h2 style='margin:0.2rem 0'>paperbot <span class='pb-meta'>ask your papers; every claim cites "
                "its source</span></h2>")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat", elem_id="pb-tab-chat"):
                status = gr.HTML(_status(defaults))
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Conversation", elem_id="pb-chat", height=560, latex_delimiters=[],
                            sanitize_html=True, render_markdown=True, feedback_options=("Like", "Dislike"),
                            buttons=["copy", "copy_all"],  # no "share": it would post to an outside service
                            placeholder="Ask a question about the papers in the store. Answers cite papers as "
                                        "[P1], [P2], …: click a key to see the paper and the sentences it rests on.",
                        )
                        with gr.Row():
                            question = gr.Textbox(show_label=False, elem_id="pb-question", scale=5, lines=1,
                                                  placeholder="e.g. " + EXAMPLES[0], autofocus=True)
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="pb-ask")
                        gr.Examples(EXAMPLES, inputs=question, label="Try")
                        with gr.Row():
                            new = gr.Button("New conversation", size="sm")
                            export = gr.Button("Export conversation (.md)", size="sm", elem_id="pb-export")
                        export_file = gr.File(label="Conversation with references (Markdown)", interactive=False,
                                              elem_id="pb-export-file", visible=False, height=90)
                    with gr.Column(scale=2):
                        gr.HTML("<h3 style='margin:0'>Sources</h3>")
                        sources = gr.HTML(panel([]), elem_id="pb-sources-panel", max_height=700)

            with gr.Tab("Papers", id="papers", elem_id="pb-tab-papers") as papers_tab:
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        grep = gr.Textbox(label="Search titles, abstracts, authors and ids", elem_id="pb-grep",
                                          placeholder="e.g. speculative")
                        count = gr.Markdown(elem_id="pb-count")
                        table = gr.Dataframe(headers=TABLE_HEADERS, datatype=["str", "number", "str"],
                                             interactive=False, wrap=True, max_height=620, elem_id="pb-papers",
                                             column_widths=["52%", "18%", "30%"],
                                             label="Papers (click a row to open it; ⋮ in a header sorts or filters)")
                    with gr.Column(scale=2):
                        paper_view = gr.HTML(notice("Select a paper to see its abstract and summary."),
                                             elem_id="pb-paper")
                        summary_view = gr.HTML(elem_id="pb-summary")

            with gr.Tab("Digest & compare", id="digest", elem_id="pb-tab-digest") as digest_tab:
                picks = gr.Dropdown(label="Papers (leave empty to use the query, or all papers for a digest)",
                                    multiselect=True, choices=[], elem_id="pb-picks")
                topic = gr.Textbox(label=f"…or a query: digest its top papers, compare its top {COMPARE_FROM_QUERY}",
                                   elem_id="pb-topic")
                aspects = gr.Textbox(label="Aspects to compare (comma-separated)", value=", ".join(DEFAULT_ASPECTS))
                with gr.Row():
                    digest_btn = gr.Button("Themed digest", variant="primary", elem_id="pb-digest")
                    compare_btn = gr.Button("Comparison table", variant="primary", elem_id="pb-compare")
                result = gr.HTML(elem_id="pb-result")
                downloads = gr.File(label="Download", file_count="multiple", interactive=False,
                                    elem_id="pb-downloads", visible=False)

            with gr.Tab("Ingest", id="ingest", elem_id="pb-tab-ingest"):
                gr.Markdown(md(
                    f"Upload paper files: {', '.join(ALLOWED_SUFFIXES)}; at most {options.limits.max_files} files "
                    f"of {options.limits.max_file_bytes // (1024 * 1024)} MB each. Each file is checked before it "
                    "is parsed; bad records are skipped and listed with the reason."))
                upload = gr.File(label="Files", file_count="multiple", file_types=list(ALLOWED_SUFFIXES),
                                 elem_id="pb-upload")
                ingest_btn = gr.Button("Ingest", variant="primary", elem_id="pb-ingest")
                report = gr.HTML(elem_id="pb-report")

            with gr.Tab("Settings", id="settings", elem_id="pb-tab-settings"):
                mode = gr.Radio([("LLM", "llm"), ("Extractive (no LLM)", "extractive")], value=defaults.mode,
                                label="Answer mode", interactive=llm_available, elem_id="pb-mode",
                                info=None if llm_available else "No LLM configured: set OPENAI_BASE_URL and/or "
                                                                "OPENAI_API_KEY and restart to enable LLM answers.")
                model = gr.Textbox(value=defaults.model, label="Chat model", interactive=llm_available)
                k = gr.Slider(1, 20, step=1, value=defaults.k, label="Papers used as evidence (k)")
                temperature = gr.Slider(0, 2, step=0.05, value=defaults.temperature, label="Temperature (LLM)",
                                        interactive=llm_available)
                gr.Markdown(md(f"LLM base URL: {redact_url(bot.settings.openai_base_url) if llm_available else 'none'}")
                            + "  \n" + md("API key: " + ("set (never shown)" if bot.settings.openai_api_key else
                                                         "not set"))
                            + "  \n" + md(f"Store: {bot.location}, collection {bot.settings.collection}")
                            + "  \n" + md("Settings apply to this browser tab only."), elem_id="pb-settings-info")

        # --- chat ---------------------------------------------------------------------------------------------
        ask_outputs = [chatbot, question, turns, sources]
        # A question sent while an answer is still coming is asked when that answer ends, with the conversation as
        # it is then ("always_last"; Gradio's default, "once", would drop it without a word).
        gr.on([send.click, question.submit], chat.ask, inputs=[question, turns, tab_state], outputs=ask_outputs,
              trigger_mode="always_last", show_progress="hidden", api_name="ui_ask", **private)
        chatbot.like(chat.like, inputs=[turns], outputs=None, api_name="ui_feedback", **private)
        export.click(chat.export, inputs=[turns], outputs=[export_file], api_name="ui_export", **private)
        # Both clear buttons (ours and the Chatbot's trash icon) forget the conversation, or the next answer would
        # bring it back, and stop an answer still coming (Chat.ask), or its last update would. Not Gradio's
        # `cancels`: its stopped stream's updates can still land after the clear's.
        cleared = [chatbot, turns, sources, export_file]
        new.click(chat.clear, outputs=cleared, api_name="ui_clear", **private)
        chatbot.clear(chat.clear, outputs=cleared, api_name="ui_clear_chat", **private)

        # --- settings (per tab) ---------------------------------------------------------------------------------
        def change(tab: TabSettings, mode_: str, model_: str, k_: float, temperature_: float):
            tab = tab.with_changes(mode_, model_, k_, temperature_, llm_available=llm_available)
            return tab, _status(tab)

        gr.on([mode.change, model.blur, model.submit, k.change, temperature.change], change,
              inputs=[tab_state, mode, model, k, temperature], outputs=[tab_state, status],
              api_name="ui_settings", **private)

        # --- papers ---------------------------------------------------------------------------------------------
        demo.load(library.table, inputs=[grep], outputs=[table, count], api_name="ui_papers_load", **private)
        # One event for the tab and the search box: a search typed while the tab's table loads runs after it,
        # so the table shown is the one the box asks for, not whichever reply came last.
        gr.on([papers_tab.select, grep.submit, grep.change], library.table, inputs=[grep], outputs=[table, count],
              trigger_mode="always_last", show_progress="hidden", api_name="ui_papers_filter", **private)
        # A row clicked while another paper's summary is being written: its summary is written next ("always_last";
        # "once" would drop it), and the one being written is not shown under the new title (Library.summary).
        table.select(library.select, outputs=[selected, paper_view, summary_view], api_name="ui_paper",
                     **private).then(library.summary, inputs=[selected, tab_state], outputs=[summary_view],
                                     trigger_mode="always_last", api_name="ui_summary", **private)

        # --- digest & compare -----------------------------------------------------------------------------------
        digest_tab.select(library.choices, outputs=[picks], show_progress="hidden", api_name="ui_choices", **private)
        digest_btn.click(library.digest, inputs=[picks, topic, tab_state], outputs=[result, downloads],
                         concurrency_id="heavy", concurrency_limit=1, api_name="ui_digest", **private)
        compare_btn.click(library.compare, inputs=[picks, topic, aspects, tab_state], outputs=[result, downloads],
                          concurrency_id="heavy", concurrency_limit=1, api_name="ui_compare", **private)

        # --- ingest ---------------------------------------------------------------------------------------------
        def ingest(files: list[str] | None, grep_: str, progress: gr.Progress = gr.Progress()):  # noqa: B008
            html = library.ingest(files, progress)
            rows, counted = library.table(grep_)
            return html, None, rows, counted

        ingest_btn.click(ingest, inputs=[upload, grep], outputs=[report, upload, table, count],
                         concurrency_id="ingest", concurrency_limit=1, api_name="ui_ingest", **private)

        # --- API: named endpoints for gradio_client -------------------------------------------------------------
        gr.api(api.ask, api_name="ask")
        gr.api(api.search, api_name="search")
        gr.api(api.summarize, api_name="summarize")
        gr.api(api.digest, api_name="digest", concurrency_id="heavy", concurrency_limit=1)
        gr.api(api.compare, api_name="compare", concurrency_id="heavy", concurrency_limit=1)
    return demo
