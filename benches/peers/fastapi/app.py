"""FastAPI + tantivy peer for Warmline's load benchmark (benches/load).

The stack a Python user might pick instead of Warmline: one uvicorn worker, async handlers,
an in-memory tantivy-py index over the same help articles, answering each message with the
top passage. It serves the same HTTP shapes as Warmline's chat API, so one wrk script drives
both. Unlike Warmline it stores nothing: conversations are ids in a dict, messages are not kept.

Run (from this folder, in the venv made by benches/peers/setup.sh):

    KNOWLEDGE_DIR=../../../knowledge/articles \
        uvicorn app:app --workers 1 --no-access-log --log-level warning --port 8000
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

HERE = Path(__file__).resolve().parent
KNOWLEDGE_DIR = Path(os.environ.get("KNOWLEDGE_DIR", HERE / "../../../knowledge/articles")).resolve()

NO_ANSWER = "Sorry, I couldn't find anything about that in our help articles."


# ---------------------------------------------------------------------------------------------
# Articles: Markdown with YAML front matter, split into passages at ## / ### headings.
# ---------------------------------------------------------------------------------------------

@dataclass
class Passage:
    article_id: str
    title: str
    url: str
    heading: str
    text: str


def _scalar(value: str) -> str:
    """The value of a one-line YAML scalar: strips a trailing comment and quotes."""
    value = value.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        return value[1:end] if end > 0 else value[1:]
    return re.sub(r"\s+#.*$", "", value).strip()


def parse_article(source: str) -> tuple[dict[str, str], str] | None:
    """Splits a file into (front matter fields, body). Only top-level `key: value` lines are
    read; that is all this peer needs (id, title, status, url). None if there is no front matter."""
    lines = source.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        return None
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        m = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$", line)
        if m:
            meta[m.group(1)] = _scalar(m.group(2))
    return meta, "\n".join(lines[end + 1:])


def split_passages(meta: dict[str, str], body: str) -> list[Passage]:
    """The intro (text before the first heading) is a passage headed by the title; each
    ## / ### section is its own passage. Headings inside ``` fences are ignored."""
    article_id, title = meta["id"], meta["title"]
    url = meta.get("url") or f"/kb/{article_id}"
    sections: list[tuple[str, list[str]]] = [(title, [])]
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        m = None if in_fence else re.match(r"^#{2,3}\s+(.+?)\s*#*\s*$", line)
        if m:
            sections.append((m.group(1), []))
        else:
            sections[-1][1].append(line)
    passages = []
    for heading, text_lines in sections:
        text = "\n".join(text_lines).strip()
        if text:
            passages.append(Passage(article_id, title, url, heading, text))
    return passages


def load_passages(folder: Path) -> list[Passage]:
    passages: list[Passage] = []
    for path in sorted(folder.glob("*.md")):
        parsed = parse_article(path.read_text(encoding="utf-8"))
        if parsed is None:
            continue
        meta, body = parsed
        if not meta.get("id") or not meta.get("title"):
            continue
        if meta.get("status", "published") != "published":
            continue
        passages.extend(split_passages(meta, body))
    return passages


# ---------------------------------------------------------------------------------------------
# Index: one tantivy document per passage, in RAM, English stemming.
# ---------------------------------------------------------------------------------------------

def build_index(passages: list[Passage]) -> tantivy.Index:
    builder = tantivy.SchemaBuilder()
    for name in ("title", "heading", "body"):
        builder.add_text_field(name, stored=False, tokenizer_name="en_stem")
    builder.add_integer_field("pos", stored=True, indexed=False)
    index = tantivy.Index(builder.build())
    writer = index.writer(heap_size=50_000_000, num_threads=1)
    for pos, p in enumerate(passages):
        writer.add_document(tantivy.Document(title=p.title, heading=p.heading, body=p.text, pos=pos))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index


PASSAGES = load_passages(KNOWLEDGE_DIR)
INDEX = build_index(PASSAGES)
WORD = re.compile(r"\w+")


def top_passage(question: str) -> tuple[Passage, float] | None:
    # Only the words, lowercased: a customer's "?", quote or "AND" must not be read as query syntax.
    words = WORD.findall(question.lower())
    if not words:
        return None
    query = INDEX.parse_query(" ".join(words), ["title", "heading", "body"])
    searcher = INDEX.searcher()
    hits = searcher.search(query, 1).hits
    if not hits:
        return None
    score, address = hits[0]
    pos = searcher.doc(address)["pos"][0]
    return PASSAGES[pos], score


# ---------------------------------------------------------------------------------------------
# HTTP API: the same shapes as Warmline's.
# ---------------------------------------------------------------------------------------------

class NewConversation(BaseModel):
    model_config = {"extra": "allow"}


class MessageIn(BaseModel):
    text: str


app = FastAPI(title="warmline-peer-fastapi")
conversations: dict[str, dict[str, Any]] = {}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz")
async def readyz() -> dict[str, Any]:
    return {"status": "ready", "passages": len(PASSAGES)}


@app.post("/v1/conversations", status_code=201)
async def create_conversation(body: NewConversation | None = None) -> dict[str, str]:
    conversation_id = str(uuid.uuid4())
    conversations[conversation_id] = {}
    return {"id": conversation_id}


@app.post("/v1/conversations/{conversation_id}/messages")
async def post_message(conversation_id: str, message: MessageIn) -> dict[str, Any]:
    if conversation_id not in conversations:
        raise HTTPException(status_code=404, detail="conversation not found")
    found = top_passage(message.text)
    if found is None:
        return {"reply": {"text": NO_ANSWER, "citations": []}}
    passage, score = found
    citation = {
        "article_id": passage.article_id,
        "title": passage.title,
        "url": passage.url,
        "passage": passage.heading,
        "score": score,
    }
    return {"reply": {"text": passage.text, "citations": [citation]}}
