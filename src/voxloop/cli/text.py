"""Text-analytics commands: ``annotate`` and ``text classify|eval|train|themes``.
Registered on the main app by :mod:`voxloop.cli.app`."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from voxloop.cli.options import FormatOpt, WorkspaceOpt, friendly_errors
from voxloop.cli.output import Format, console, load_progress, print_json, print_rows
from voxloop.workspace import Workspace


class FileFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


InputOpt = Annotated[Path, typer.Option("--input", "-i", help="CSV, JSONL or Parquet file.")]
TextColumnOpt = Annotated[str, typer.Option("--text-column", help="Column holding the text.")]
LabelColumnOpt = Annotated[
    str, typer.Option("--label-column", help="Column holding the theme id(s), | between several.")
]
TaxonomyOpt = Annotated[
    Path | None,
    typer.Option("--taxonomy", help="Another taxonomy.yaml (default: the workspace's)."),
]


def register(app: typer.Typer) -> None:
    text = typer.Typer(help="Text analytics on a file: classify, evaluate, train, new themes.")
    app.add_typer(text, name="text")

    @app.command()
    @friendly_errors
    def annotate(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
        """Analyse every verbatim of the store not analysed yet: language, personal-data
        redaction, themes, sentiment (each text once per pipeline version)."""
        with (
            Workspace.open(workspace) as ws,
            load_progress(fmt is Format.table, ("annotate",)) as progress,
        ):
            result = ws.text.annotate(progress=progress)
        data = result.as_dict()
        if fmt is Format.table:
            rows = [{"what": k.replace("_", " "), "value": v} for k, v in data.items()]
            print_rows(rows, "Annotation", fmt)
        else:
            print_rows([data], "Annotation", fmt)

    @text.command("classify")
    @friendly_errors
    def classify(
        input_file: InputOpt,
        text_column: TextColumnOpt,
        taxonomy: TaxonomyOpt = None,
        out_format: Annotated[
            FileFormat, typer.Option("--format", "-f", help="jsonl (default) or csv.")
        ] = FileFormat.jsonl,
        workspace: WorkspaceOpt = None,
    ) -> None:
        """Per input row, in order: language, redacted text, themes, sentiment."""
        import csv

        with Workspace.open(workspace) as ws:
            rows = ws.text.classify_file(input_file, text_column, taxonomy)
            if out_format is FileFormat.jsonl:
                for row in rows:
                    sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
                return
            writer = csv.writer(sys.stdout)
            writer.writerow(["language", "redacted", "themes", "sentiment", "sentiment_score",
                             "status", "note"])  # fmt: skip
            for row in rows:
                themes = "|".join(f"{t['id']}:{t['confidence']}" for t in row["themes"])
                writer.writerow([row["language"], row["redacted"], themes, row["sentiment"],
                                 row["sentiment_score"], row["status"], row["note"]])  # fmt: skip

    @text.command("eval")
    @friendly_errors
    def evaluate(
        input_file: InputOpt,
        text_column: TextColumnOpt,
        label_column: LabelColumnOpt,
        taxonomy: TaxonomyOpt = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Precision, recall and F1 per theme, macro-F1, and the most frequent confusions."""
        with Workspace.open(workspace) as ws:
            report = ws.text.evaluate_file(input_file, text_column, label_column, taxonomy)
        if fmt is Format.json:
            print_json(report)
            return
        print_rows(report["per_theme"], f"Themes (macro-F1 {report['macro_f1']:.3f})", fmt)
        if fmt is Format.table and report.get("confusions"):
            print_rows(report["confusions"], "Most frequent confusions", fmt)

    @text.command("train")
    @friendly_errors
    def train(
        labels: Annotated[Path, typer.Argument(help="Labelled verbatims (CSV, JSONL, Parquet).")],
        text_column: TextColumnOpt,
        label_column: LabelColumnOpt,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Train the workspace's theme classifier on labelled verbatims; later annotations
        use it (every text is analysed again with it)."""
        with Workspace.open(workspace) as ws:
            summary = ws.text.train(labels, text_column, label_column)
        print_rows([summary], "Trained", fmt)

    @text.command("themes")
    @friendly_errors
    def themes(
        since: Annotated[
            str | None, typer.Option("--since", help="Texts from this day on (YYYY-MM-DD).")
        ] = None,
        min_size: Annotated[int, typer.Option("--min-size", help="Smallest cluster.")] = 5,
        accept: Annotated[
            str | None, typer.Option("--accept", help="Add this candidate to taxonomy.yaml.")
        ] = None,
        theme_id: Annotated[
            str | None, typer.Option("--id", help="Id of the accepted theme.")
        ] = None,
        domain: Annotated[
            str,
            typer.Option(
                "--domain",
                help="interaction, product_service, price_billing, digital or other.",
            ),
        ] = "other",
        label_fr: Annotated[str | None, typer.Option("--label-fr")] = None,
        label_en: Annotated[str | None, typer.Option("--label-en")] = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Emerging themes: clusters of texts no theme explains, with their distinctive words
        and examples; --accept one (with --id) to add it to taxonomy.yaml."""
        with Workspace.open(workspace) as ws:
            if accept is not None:
                if theme_id is None:
                    raise typer.BadParameter("give the new theme's id with --id")
                result = ws.text.accept(
                    accept, theme_id, domain=domain, label_fr=label_fr, label_en=label_en
                )
                print_rows([result], "Accepted into taxonomy.yaml", fmt)
                return
            found = ws.text.themes(since, min_size)
        if fmt is not Format.table:
            print_json(found) if fmt is Format.json else print_rows(found, "", fmt)
            return
        if not found:
            console.print("No emerging theme: every text is explained, or too few remain.")
            return
        rows: list[dict[str, Any]] = [
            {"candidate": c["id"], "size": c["size"], "share": f"{100 * c['share']:.1f} %",
             "words": ", ".join(c["words"]), "example": c["examples"][0][:80]}
            for c in found
        ]  # fmt: skip
        print_rows(rows, "Candidate themes (accept with --accept ID --id THEME)", fmt)
