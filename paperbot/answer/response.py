"""A streamed answer as one object: iterate it for the text as it arrives, then `.answer()` for the final Answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from paperbot.types import Answer

# What a response runs: text pieces, then the final Answer as its last item.
Run = Callable[[], Iterable["str | Answer"]]


class AnswerResponse:
    """Lazy: nothing is searched or sent until it is iterated or asked for its answer, and it runs at most once.

    `for piece in response` yields the text pieces as they arrive; a second loop replays them, then reads on if the
    first one stopped early. `.answer()` returns the final Answer, reading whatever is left of the stream
    first. An error raised while running propagates from the loop or `.answer()` that hit it, and again from every
    later call that needs what the run did not produce. Not shared between threads: one response per question.
    """

    def __init__(self, run: Run) -> None:
        self._run: Run | None = run
        self._source: Iterator[str | Answer] | None = None
        self._pieces: list[str] = []
        self._answer: Answer | None = None
        self._error: BaseException | None = None

    @property
    def started(self) -> bool:
        """Whether the run has begun (the model may have been called)."""
        return self._run is None

    @property
    def done(self) -> bool:
        """Whether the run has ended, with an Answer or an error."""
        return self._answer is not None or self._error is not None

    def __iter__(self) -> Iterator[str]:
        shown = 0
        while True:
            if shown < len(self._pieces):
                shown += 1
                yield self._pieces[shown - 1]
            elif not self._advance():
                return

    def answer(self) -> Answer:
        """The final Answer; runs the rest of the stream first if it has not been read to the end."""
        while self._advance():
            pass
        assert self._answer is not None  # _advance raises rather than end without one
        return self._answer

    @property
    def result(self) -> Answer:
        """The final Answer, as `.answer()`."""
        return self.answer()

    def text(self) -> str:
        """The final Answer's text: for an LLM answer, after its citations were checked, so it can differ from the
        pieces streamed (those, joined, are `answer().raw_text`)."""
        return self.answer().text

    def close(self) -> None:
        """Stop the run (e.g. the person left): a model stream under way is closed, one not begun never starts."""
        if self.done:
            return
        self._run = None
        close = getattr(self._source, "close", None)
        if close is not None:
            close()
        self._error = RuntimeError("the answer was closed before it finished")

    def _advance(self) -> bool:
        """Read one more item from the run; False once it has ended with an Answer. Raises the run's error."""
        if self._error is not None:
            raise self._error
        if self._answer is not None:
            return False
        if self._source is None:
            run, self._run = self._run, None
            assert run is not None
            try:
                self._source = iter(run())
            except BaseException as exc:
                self._error = exc
                raise
        try:
            item = next(self._source)
        except StopIteration:
            self._error = RuntimeError("the answer stream ended without a final answer (a bug: please report it)")
            raise self._error from None
        except BaseException as exc:
            self._error = exc
            raise
        if isinstance(item, Answer):
            self._answer = item
            close = getattr(self._source, "close", None)
            if close is not None:  # nothing follows the Answer: release the run now, not when collected
                close()
        else:
            self._pieces.append(item)
        return True

    def __repr__(self) -> str:
        state = "done" if self.done else "streaming" if self.started else "not started"
        return f"<AnswerResponse {state}, {len(self._pieces)} pieces>"
