"""Say which search filter left no papers, and how many papers lack the field it filters on."""

from __future__ import annotations

from typing import Protocol

from paperbot.text.wording import counted
from paperbot.types import SearchFilters


class FilterableCatalog(Protocol):
    def counts(self) -> tuple[int, int]: ...

    def paper_ids(self, filters: SearchFilters) -> list[str]: ...

    def year_range(self) -> tuple[int, int] | None: ...


def empty_filter_notes(catalog: FilterableCatalog, filters: SearchFilters) -> list[str]:
    """One sentence per filter that on its own matches no paper (none when the filters match some papers)."""
    if filters.is_empty or catalog.paper_ids(filters):
        return []
    total, _ = catalog.counts()
    notes = []
    if filters.year_min is not None or filters.year_max is not None:
        if not catalog.paper_ids(SearchFilters(year_min=filters.year_min, year_max=filters.year_max)):
            asked = " and ".join(f"--{name.replace('_', '-')} {value}" for name in ("year_min", "year_max")
                                 if (value := getattr(filters, name)) is not None)
            undated = total - len(catalog.paper_ids(SearchFilters(year_min=0)))  # year >= 0: every paper with a year
            span = catalog.year_range()
            held = f"; the others are from {span[0]}–{span[1]}" if span and undated < total else ""
            notes.append(f"{asked} matches none of the {counted(total, 'paper')}: {counted(undated, 'paper')} "
                         f"{'has' if undated == 1 else 'have'} no year (their source gave none){held}")
    if filters.authors and not catalog.paper_ids(SearchFilters(authors=filters.authors)):
        # Authors are stored as a JSON list: a '"' appears exactly when a paper has at least one name.
        nameless = total - len(catalog.paper_ids(SearchFilters(authors=('"',))))
        asked = " or ".join(f"--author {name!r}" for name in filters.authors)
        notes.append(f"{asked} matches none of the {counted(total, 'paper')}: {counted(nameless, 'paper')} "
                     f"{'has' if nameless == 1 else 'have'} no authors")
    if filters.paper_ids and not catalog.paper_ids(SearchFilters(paper_ids=filters.paper_ids)):
        notes.append("no --paper-id given is in this store: `paperbot papers` lists the ids")
    return notes or ["each filter matches some papers, but no paper matches them all together"]
