"""``audit database`` on PostgreSQL: the statements with which the server recomputes the served tables.

How this works
--------------
The Python audit (:func:`creditbank.audit.database.audit_database` with ``engine="python"``) parses
every leaf in the auditing process and carries the journal's state forward entry by entry: about
150 µs of interpreter time per entry, far too slow for a log of millions. On PostgreSQL the server
does the per-entry work instead, and the auditing process judges only what the server could not
prove equal (``audit_with_sql`` in :mod:`creditbank.audit.database`):

1. **The leaves are the log's.** Per log, :data:`LEAF_HASHES_SQL` hashes every leaf in the server
   (``sha256('\\x00' || leaf)``) and returns the hashes concatenated in sequence order. The auditing
   process builds the Merkle tree from them (``merkle.tree_levels``), compares every stored
   ``tlog_nodes`` level with it, and checks every stored checkpoint's root and signed note against the
   root it recomputes (``merkle.root_from_levels``). The leaves parsed in step 2 are therefore the
   bytes the signed checkpoints commit to: trusting their parsed columns is not trusting the service.
2. **One statement**, :data:`CANDIDATES_SQL`, parses each leaf once (``convert_from(leaf,
   'UTF8')::jsonb`` in a materialised CTE) and recomputes from the parsed leaves: each journal row's
   columns and learner, its postings and the lots it creates (``FULL JOIN`` with ``ledger_postings``
   and ``ledger_lots``), every account's balance (a sum of the leaves' postings), which conversion
   holds each lot (the latest conversion that takes it, unless a later reversal of that conversion
   frees it), per outcome its latest recognition and lot, whether a later reversal undid it, its
   latest revocation or correction and review decision, and each conversion's record. It returns the
   *candidates*: the keys of the rows it cannot prove equal to the journal, with the journal's values
   for them. Its tests are conservative (JSON values compared as ``jsonb``, whole objects against the
   object the stored row would make), so a row it passes is one the Python audit passes too.
3. Each candidate is judged by the Python audit's own per-row code (a candidate entry is re-read and
   its leaf parsed by the auditing process), so the differences and their messages are the Python
   audit's; the tests run both on every tamper and compare. A clean database has no candidates.

**On two cores.** One statement runs in one backend, on one core (its materialised CTE rules out
parallel workers). ``creditbank audit database`` therefore runs on two connections sharing one
snapshot (the second imports the first one's, ``pg_export_snapshot()``, ``SET TRANSACTION
SNAPSHOT``), each taking the next statement when it is free
(:func:`creditbank.audit.database.read_on_two`): the four statements of :data:`FAST`, which parse
each leaf once (half of the entries each for the per-entry checks; the state recomputed from the
postings and lots those prove to be the leaves'), step 1's leaf hashes and the tree's stored levels,
the orphans and the counts. Only when a per-entry statement of :data:`FAST` finds something do the
two statements of :data:`SPLIT` run (each parses every leaf, from which they recompute everything),
and their candidates are judged. The tests check on every tamper that when the per-entry statements
of :data:`FAST` find nothing its state statements find exactly what :data:`CANDIDATES_SQL` finds,
that when they find something :data:`CANDIDATES_SQL` names an entry or a lot too, and that
:data:`SPLIT`'s two statements together name exactly the rows the one statement names.

A leaf that is not UTF-8 JSON, or holds an amount that is not a number, stops the statement
(PostgreSQL raises on the cast); it runs under a savepoint, and the Python audit then reads every
leaf and names that one.
"""

from collections.abc import Sequence
from typing import Final

LEAF_HASHES_SQL: Final = (
    "SELECT count(*), min(seq), max(seq), "
    "string_agg(sha256('\\x00'::bytea || leaf), ''::bytea ORDER BY seq) "
    "FROM ledger_transactions WHERE log_id = %s"
)
"""A log's entries: count, first and last seq, and the leaf hashes concatenated in seq order."""

SEQ_GAPS_SQL: Final = (
    "SELECT id, seq, position FROM (SELECT id, seq, row_number() OVER (ORDER BY seq) - 1 AS position "
    "FROM ledger_transactions WHERE log_id = %s) t WHERE seq <> position ORDER BY position"
)


def _lot_object(row: str, lot_id: str) -> str:
    """The leaf's lot object that the ``ledger_lots`` columns of ``row`` record (``lot_id``: its id)."""
    return f"""jsonb_build_object(
                'id', {lot_id}, 'learner', {row}.learner_id, 'issuer', {row}.issuer_id,
                'credits', {row}.credits::text, 'category', {row}.category, 'level', {row}.level,
                'field', {row}.field, 'rule', jsonb_build_object(
                    'id', {row}.rule_id, 'version', {row}.rule_version, 'set_hash', {row}.rule_set_hash)
            ) || CASE WHEN {row}.expires_on IS NULL THEN '{{}}'::jsonb
                 ELSE jsonb_build_object('expires', to_char({row}.expires_on, 'YYYY-MM-DD')) END"""


_LOT_OF_ROW: Final = _lot_object("s", "s.id")
"""The leaf's lot object that the ``ledger_lots`` row ``s`` records (compared as ``jsonb``)."""

_CTES: Final = {
    "leaves": """
leaves AS MATERIALIZED (  -- each leaf parsed once
    SELECT t.id::text AS id, t.log_id::text COLLATE "C" AS log_id, t.seq, t.kind::text AS kind,
           t.learner_id::text AS learner_id, t.reverses_id::text AS reverses_id, t.posting_count,
           convert_from(t.leaf, 'UTF8')::jsonb AS b
    FROM ledger_transactions t <HALF>
)
""",
    "others": """
others AS MATERIALIZED (  -- every entry but the recognitions (a tenth of a typical journal)
    SELECT id, log_id, seq, b -> 'kind' AS kind, b FROM leaves WHERE b -> 'kind' <> '"recognition"'
)
""",
    "leaf_postings": """
leaf_postings AS (
    SELECT l.id AS tx, l.learner_id, (e.n - 1)::int AS position, e.p
    FROM leaves l CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(l.b -> 'postings') = 'array' THEN l.b -> 'postings' ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS e (p, n)
)
""",
    "entry_postings": """
entry_postings AS (
    SELECT coalesce(lp.tx, s.transaction_id::text) AS id
    FROM leaf_postings lp
    FULL JOIN <POSTINGS> s ON s.transaction_id = lp.tx AND s.position = lp.position
    WHERE lp.tx IS NULL OR s.transaction_id IS NULL
       OR lp.p IS DISTINCT FROM CASE WHEN s.lot_id IS NULL
           THEN jsonb_build_object('account', s.account_id, 'amount', s.amount::text)
           ELSE jsonb_build_object('account', s.account_id, 'amount', s.amount::text, 'lot', s.lot_id) END
       OR (lp.p ->> 'account' LIKE 'learner:%' AND (lp.learner_id IS NULL OR lp.p ->> 'account' NOT IN (
           'learner:' || lp.learner_id || ':available', 'learner:' || lp.learner_id || ':converted')))
)
""",
    "recognition_leaves": """
recognition_leaves AS (
    SELECT l.id AS tx, l.log_id, l.seq, l.b -> 'lots' AS lots, l.b -> 'details' -> 'outcome' AS outcome
    FROM leaves l WHERE l.b -> 'kind' = '"recognition"' AND jsonb_typeof(l.b -> 'lots') = 'array'
)
""",
    "leaf_lots": """
leaf_lots AS (  -- a recognition creates one lot as a rule: the first without a function call
    SELECT tx, lots -> 0 AS lot, outcome FROM recognition_leaves WHERE jsonb_array_length(lots) > 0
    UNION ALL
    SELECT r.tx, e.lot, r.outcome
    FROM recognition_leaves r CROSS JOIN LATERAL jsonb_array_elements(r.lots) WITH ORDINALITY AS e (lot, n)
    WHERE jsonb_array_length(r.lots) > 1 AND e.n > 1
)
""",
    "lot_pairs": """
lot_pairs AS (
    SELECT ll.tx, s.id AS stored_id, s.recognition_tx_id::text AS stored_tx,
        coalesce(
            s.recognition_tx_id = ll.tx
            AND s.outcome_id IS NOT DISTINCT FROM
                (CASE WHEN jsonb_typeof(ll.outcome) = 'string' THEN ll.outcome #>> '{}' END)
            AND ll.lot = <LOT_OF_ROW>,
            false
        ) AS same
    FROM leaf_lots ll FULL JOIN <LOTS> s ON s.id = ll.lot ->> 'id'
)
""",
    "sums": """
sums AS (
    SELECT lp.p ->> 'account' AS account, sum((lp.p ->> 'amount')::numeric) AS want
    FROM leaf_postings lp GROUP BY 1
)
""",
    "account_diffs": """
account_diffs AS (
    SELECT coalesce(a.id::text, x.account) AS id, x.want
    FROM ledger_accounts a FULL JOIN sums x ON x.account = a.id
    WHERE CASE WHEN a.id IS NULL THEN x.account IS NOT NULL AND x.want <> 0 ELSE
        a.balance IS DISTINCT FROM coalesce(x.want, 0)
        OR (a.id LIKE 'learner:%' AND cardinality(string_to_array(a.id, ':')) = 3
            AND (a.kind::text, a.owner_id::text)
                IS DISTINCT FROM ('learner_' || split_part(a.id, ':', 3), split_part(a.id, ':', 2)))
        OR (a.id LIKE 'issuer:%' AND cardinality(string_to_array(a.id, ':')) = 2
            AND (a.kind::text, a.owner_id::text) IS DISTINCT FROM ('issuer', split_part(a.id, ':', 2)))
    END
)
""",
    "converts": """
converts AS (
    SELECT o.id AS tx, o.log_id, o.seq, coalesce(c ->> 'lot', 'None') AS lot,
           coalesce(c ->> 'programme', '') AS programme,
           coalesce(o.b -> 'details' ->> 'institution', '') AS institution
    FROM others o CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(o.b -> 'converts') = 'array' THEN o.b -> 'converts' ELSE '[]'::jsonb END
    ) AS c
    WHERE o.kind = '"conversion"' AND jsonb_typeof(c) = 'object'
)
""",
    "reversals": """
reversals AS (
    SELECT id AS tx, log_id, seq, b -> 'reverses' ->> 'id' AS target, b FROM others WHERE kind = '"reversal"'
)
""",
    "freed": """
freed AS (
    SELECT r.target, p ->> 'lot' AS lot, r.log_id, r.seq
    FROM reversals r CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(r.b -> 'postings') = 'array' THEN r.b -> 'postings' ELSE '[]'::jsonb END
    ) AS p
)
""",
    "held": """
held AS (
    SELECT c.* FROM (SELECT DISTINCT ON (lot) * FROM converts ORDER BY lot, log_id DESC, seq DESC) c
    WHERE NOT EXISTS (
        SELECT 1 FROM freed f
        WHERE f.target = c.tx AND f.lot = c.lot AND (f.log_id, f.seq) > (c.log_id, c.seq)
    )
)
""",
    "lock_diffs": """
lock_diffs AS (
    SELECT coalesce(s.lot_id::text, h.lot) AS lot,
           CASE WHEN h.lot IS NOT NULL THEN jsonb_build_array(h.tx, h.programme, h.institution) END AS want
    FROM ledger_lot_locks s FULL JOIN held h ON h.lot = s.lot_id
    WHERE s.lot_id IS NULL OR h.lot IS NULL
       OR s.conversion_tx_id IS DISTINCT FROM h.tx OR s.programme_id IS DISTINCT FROM h.programme
       OR (h.institution <> '' AND s.institution_id IS DISTINCT FROM h.institution)
)
""",
    "recognised": """
recognised AS (
    SELECT tx, log_id, seq, outcome #>> '{}' AS outcome, lots -> 0 AS lot
    FROM recognition_leaves WHERE jsonb_typeof(outcome) = 'string' AND jsonb_typeof(lots -> 0) = 'object'
)
""",
    "latest_recognition": """
latest_recognition AS (
    SELECT DISTINCT ON (outcome) * FROM recognised ORDER BY outcome, log_id DESC, seq DESC
)
""",
    "undone": """
undone AS (
    SELECT o.outcome, r.log_id, r.seq, split_part(coalesce(r.b -> 'details' ->> 'reason', ''), ':', 1) AS verb
    FROM reversals r JOIN recognised o ON o.tx = r.target AND (o.log_id, o.seq) < (r.log_id, r.seq)
)
""",
    "last_undone": """
last_undone AS (
    SELECT DISTINCT ON (outcome) outcome, log_id, seq FROM undone ORDER BY outcome, log_id DESC, seq DESC
)
""",
    "finals": """
finals AS (
    SELECT DISTINCT ON (outcome) outcome, final FROM (
        SELECT outcome, log_id, seq, CASE verb WHEN 'revoked' THEN 'revoked' ELSE 'superseded' END AS final
        FROM undone WHERE verb IN ('revoked', 'corrected')
        UNION ALL
        SELECT b -> 'details' ->> 'outcome', log_id, seq,
               CASE b -> 'details' ->> 'action' WHEN 'revoked' THEN 'revoked' ELSE 'superseded' END
        FROM others
        WHERE kind = '"note"' AND jsonb_typeof(b -> 'details' -> 'outcome') = 'string'
          AND b -> 'details' -> 'action' IN ('"revoked"', '"corrected"')
    ) e ORDER BY outcome, log_id DESC, seq DESC
)
""",
    "decisions": """
decisions AS (
    SELECT DISTINCT ON (b -> 'details' ->> 'outcome') b -> 'details' ->> 'outcome' AS outcome,
           b -> 'details' AS decision
    FROM others
    WHERE kind = '"review_decision"' AND jsonb_typeof(b -> 'details' -> 'outcome') = 'string'
    ORDER BY b -> 'details' ->> 'outcome', log_id DESC, seq DESC
)
""",
    "facts": """
facts AS (
    SELECT coalesce(r.outcome, f.outcome, d.outcome) AS outcome, r.lot, f.final, d.decision,
           coalesce(u.outcome IS NOT NULL AND (u.log_id, u.seq) > (r.log_id, r.seq), false) AS lot_reversed
    FROM latest_recognition r
    LEFT JOIN last_undone u ON u.outcome = r.outcome
    FULL JOIN finals f ON f.outcome = r.outcome
    FULL JOIN decisions d ON d.outcome = coalesce(r.outcome, f.outcome)
)
""",
    "recognition_diffs": """
recognition_diffs AS (
    SELECT coalesce(s.outcome_id::text, f.outcome) AS outcome,
           CASE WHEN f.outcome IS NOT NULL THEN jsonb_build_object(
               'lot', f.lot, 'lot_reversed', f.lot_reversed, 'final', f.final, 'decision', f.decision
           ) END AS facts
    FROM (recognitions s LEFT JOIN outcomes o ON o.id = s.outcome_id)
    FULL JOIN facts f ON f.outcome = s.outcome_id
    WHERE NOT coalesce(s.outcome_id IS NOT NULL AND o.id IS NOT NULL AND (
        (f.outcome IS NULL AND s.status IN ('review', 'rejected') AND s.lot_id IS NULL)
        OR (f.final IS NULL AND NOT f.lot_reversed AND s.status = 'recognised'
            AND f.lot = jsonb_build_object(
                'id', s.lot_id, 'learner', o.learner_id, 'issuer', o.institution_id,
                'credits', s.credits::text, 'category', coalesce(nullif(s.category, ''), 'general'),
                'level', coalesce(nullif(s.level, 0), 1),
                'field', coalesce(s.field, ''), 'rule', jsonb_build_object(
                    'id', coalesce(nullif(s.rule_id, ''), 'manual'),
                    'version', coalesce(nullif(s.rule_version, ''), '0'), 'set_hash', s.rule_set_hash)
            ) || CASE WHEN s.expires_on IS NULL THEN '{}'::jsonb
                 ELSE jsonb_build_object('expires', to_char(s.expires_on, 'YYYY-MM-DD')) END)
    ), false)
)
""",
    "conversion_want": """
conversion_want AS (
    SELECT DISTINCT ON (o.b -> 'details' ->> 'conversion')
        o.b -> 'details' ->> 'conversion' AS id, o.id AS tx,
        substring(
            jsonb_path_query_first(
                o.b, '$.postings[*].account ? (@ like_regex "^learner:.*:(available|converted)$")'
            ) #>> '{}' FROM '^learner:(.*):(?:available|converted)$'
        ) AS learner,
        o.b -> 'details' -> 'institution' AS institution, o.b -> 'details' -> 'programme' AS programme,
        ARRAY(
            SELECT coalesce(c ->> 'lot', 'None') COLLATE "C" FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(o.b -> 'converts') = 'array'
                THEN o.b -> 'converts' ELSE '[]'::jsonb END
            ) AS c WHERE jsonb_typeof(c) = 'object' ORDER BY 1
        ) AS lot_ids,
        (o.b -> 'details' ->> 'credits')::numeric AS credits
    FROM others o
    WHERE o.kind = '"conversion"' AND jsonb_typeof(o.b -> 'details' -> 'conversion') = 'string'
    ORDER BY o.b -> 'details' ->> 'conversion', o.log_id DESC, o.seq DESC
)
""",
    "conversion_diffs": """
conversion_diffs AS (
    SELECT coalesce(s.id::text, w.id) AS id,
           CASE WHEN w.id IS NOT NULL THEN jsonb_build_object(
               'ledger_tx_id', w.tx, 'learner_id', w.learner, 'institution_id', w.institution,
               'programme_id', w.programme, 'lot_ids', to_jsonb(w.lot_ids), 'credits', w.credits::text
           ) END AS want
    FROM conversions s FULL JOIN conversion_want w ON w.id = s.id
    WHERE NOT coalesce(
        s.ledger_tx_id = w.tx AND s.learner_id = w.learner
        AND to_jsonb(s.institution_id::text) = w.institution AND to_jsonb(s.programme_id::text) = w.programme
        AND jsonb_typeof(s.lot_ids::jsonb) = 'array'
        AND ARRAY(
            SELECT x COLLATE "C" FROM jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(s.lot_ids::jsonb) = 'array' THEN s.lot_ids::jsonb ELSE '[]'::jsonb END
            ) AS x ORDER BY 1
        ) = w.lot_ids
        AND s.credits = w.credits,
        false
    )
)
""",
}
"""The statement's parts by name, in the order they may refer to each other."""

_ENTRY_PARTS: Final = {
    "rows": """
SELECT id FROM leaves WHERE NOT coalesce(
    jsonb_typeof(b) = 'object'
    AND b -> 'id' = to_jsonb(id) AND b -> 'log' = to_jsonb(log_id::text)
    AND b -> 'kind' = to_jsonb(kind)
    AND (CASE WHEN jsonb_typeof(b -> 'reverses') = 'object' THEN b -> 'reverses' -> 'id' END)
        IS NOT DISTINCT FROM to_jsonb(reverses_id)
    AND jsonb_typeof(b -> 'postings') = 'array'
    AND jsonb_array_length(b -> 'postings') = posting_count
    AND (b -> 'kind' <> '"recognition"' OR b -> 'lots' -> 0 -> 'learner' = to_jsonb(learner_id)),
    false
)""",
    "postings": "SELECT id FROM entry_postings",
    "lots": (
        "SELECT tx FROM lot_pairs WHERE tx IS NOT NULL AND NOT same "
        "UNION SELECT stored_tx FROM lot_pairs WHERE tx IS NOT NULL AND NOT same AND stored_tx IS NOT NULL"
    ),
}
_RESULTS: Final = {
    "lots": "SELECT 'lot', stored_id, to_jsonb(stored_tx) FROM lot_pairs WHERE tx IS NULL",
    "accounts": "SELECT 'account', id, to_jsonb(want::text) FROM account_diffs",
    "locks": "SELECT 'lock', lot, want FROM lock_diffs",
    "recognitions": "SELECT 'recognition', outcome, facts FROM recognition_diffs",
    "conversions": "SELECT 'conversion', id, want FROM conversion_diffs",
    "malformed": (
        "SELECT 'malformed', tx, NULL FROM recognition_leaves "
        "WHERE jsonb_array_length(lots) > 0 AND jsonb_typeof(lots -> 0) <> 'object'"
    ),
    "multi": "SELECT 'multi', tx, NULL FROM recognition_leaves WHERE jsonb_array_length(lots) > 1",
}
_NEEDS: Final = {  # each check: the parts it reads (with what those read in turn)
    "rows": ("leaves",),
    "postings": ("leaves", "leaf_postings", "entry_postings"),
    "lots": ("leaves", "recognition_leaves", "leaf_lots", "lot_pairs"),
    "accounts": ("leaves", "leaf_postings", "sums", "account_diffs"),
    "locks": ("leaves", "others", "converts", "reversals", "freed", "held", "lock_diffs"),
    "recognitions": (
        "leaves", "others", "recognition_leaves", "reversals", "recognised", "latest_recognition", "undone",
        "last_undone", "finals", "decisions", "facts", "recognition_diffs",
    ),
    "conversions": ("leaves", "others", "conversion_want", "conversion_diffs"),
    "malformed": ("leaves", "recognition_leaves"),
    "multi": ("leaves", "recognition_leaves"),
}  # fmt: skip


def candidates_sql(checks: Sequence[str], *, half: int | None = None, fast: bool = False) -> str:
    """One statement running ``checks`` (names of :data:`_NEEDS`) over leaves parsed once: it returns
    (what, key, the journal's values) for every row it cannot prove equal to the journal.

    ``half`` (0 or 1): the per-entry checks for the entries of that half only (see :data:`FAST`);
    ``fast``: the state checks from the tables the per-entry checks prove (see :data:`FAST`)."""
    parts, needs = (_CTES | _FAST_CTES, _FAST_NEEDS) if fast else (_CTES, _NEEDS)
    needed = {part for check in checks for part in needs[check]}
    ctes = ",\n".join(text for name, text in parts.items() if name in needed)
    entries = [_ENTRY_PARTS[check] for check in checks if check in _ENTRY_PARTS]
    selects = [f"SELECT 'entry', id, NULL::jsonb FROM ({' UNION '.join(entries)}) e (id)"] if entries else []  # noqa: S608 - the module's own text
    selects += [_RESULTS[check] for check in checks if check in _RESULTS]
    text = f"WITH {ctes}\n" + "\nUNION ALL ".join(selects) + "\n"
    if half is None:
        return _fill(text, half="", postings="ledger_postings", lots="ledger_lots")
    return _fill(
        text,
        half=f"WHERE {_half('t.id')} = {half:d}",
        postings=f"(SELECT * FROM ledger_postings WHERE {_half('transaction_id')} = {half:d})",  # noqa: S608
        lots=f"(SELECT * FROM ledger_lots WHERE {_half('recognition_tx_id')} = {half:d})",  # noqa: S608
    )


def _half(column: str) -> str:
    """Which half an entry (by its id) is in: 0 or 1, the same for every row that names it."""
    return f"coalesce(hashtext({column}::text) & 1, 0)"


def _fill(text: str, *, half: str, postings: str, lots: str) -> str:
    for token, value in (
        ("<HALF>", half),
        ("<POSTINGS>", postings),
        ("<LOTS>", lots),
        ("<LOT_OF_ROW>", _LOT_OF_ROW),
        ("<LOT_OF_FACTS>", _lot_object("f", "f.lot_id")),
    ):
        text = text.replace(token, value)
    return text


CHECKS: Final = ("rows", "postings", "lots", "accounts", "locks", "recognitions", "conversions", "malformed")
CANDIDATES_SQL: Final = candidates_sql(CHECKS)
"""Every row the server cannot prove equal to the journal: (what, key, the journal's values)."""
SPLIT: Final = (
    ("rows", "postings", "lots", "malformed"),
    ("accounts", "locks", "recognitions", "conversions"),
)
"""The checks as two statements, for two connections sharing one snapshot: each parses the leaves (so
together they cost about a third more server time than :data:`CANDIDATES_SQL`), and each takes one
core. Together they name the rows :data:`CANDIDATES_SQL` names."""

_FAST_CTES: Final = {
    "others": """
others AS MATERIALIZED (  -- the entries whose row says they are not recognitions: only these parsed
    SELECT id, log_id, seq, b -> 'kind' AS kind, b FROM (
        SELECT t.id::text AS id, t.log_id::text COLLATE "C" AS log_id, t.seq,
               convert_from(t.leaf, 'UTF8')::jsonb AS b
        FROM ledger_transactions t WHERE t.kind::text <> 'recognition'
    ) o WHERE b -> 'kind' <> '"recognition"'
)
""",
    "sums": """
sums AS (  -- the postings were proved to be the leaves' postings
    SELECT account_id::text AS account, sum(amount) AS want FROM ledger_postings GROUP BY 1
)
""",
    "recognised": """
recognised AS (  -- the lots were proved to be the leaves' lots, one per recognition: their columns
    SELECT t.id::text AS tx, t.log_id::text COLLATE "C" AS log_id, t.seq, s.outcome_id::text AS outcome,
           s.id AS lot_id, s.learner_id, s.issuer_id, s.credits, s.category, s.level, s.field, s.rule_id,
           s.rule_version, s.rule_set_hash, s.expires_on
    FROM ledger_lots s JOIN ledger_transactions t ON t.id = s.recognition_tx_id
    WHERE s.outcome_id IS NOT NULL AND t.kind::text = 'recognition'
)
""",
    "facts": """
facts AS (  -- the latest lot's columns (lot_id NULL: no lot), where the leaves' statement has its object
    SELECT coalesce(r.outcome, f.outcome, d.outcome) AS outcome, r.lot_id, r.learner_id, r.issuer_id,
           r.credits, r.category, r.level, r.field, r.rule_id, r.rule_version, r.rule_set_hash,
           r.expires_on, f.final, d.decision,
           coalesce(u.outcome IS NOT NULL AND (u.log_id, u.seq) > (r.log_id, r.seq), false) AS lot_reversed
    FROM latest_recognition r
    LEFT JOIN last_undone u ON u.outcome = r.outcome
    FULL JOIN finals f ON f.outcome = r.outcome
    FULL JOIN decisions d ON d.outcome = coalesce(r.outcome, f.outcome)
)
""",
    "recognition_diffs": """
recognition_diffs AS (  -- as the leaves' statement, the lot's object compared column by column
    SELECT coalesce(s.outcome_id::text, f.outcome) AS outcome,
           CASE WHEN f.outcome IS NOT NULL THEN jsonb_build_object(
               'lot', CASE WHEN f.lot_id IS NOT NULL THEN <LOT_OF_FACTS> END,
               'lot_reversed', f.lot_reversed, 'final', f.final, 'decision', f.decision
           ) END AS facts
    FROM (recognitions s LEFT JOIN outcomes o ON o.id = s.outcome_id)
    FULL JOIN facts f ON f.outcome = s.outcome_id
    WHERE NOT coalesce(s.outcome_id IS NOT NULL AND o.id IS NOT NULL AND (
        (f.outcome IS NULL AND s.status IN ('review', 'rejected') AND s.lot_id IS NULL)
        OR (f.final IS NULL AND NOT f.lot_reversed AND s.status = 'recognised' AND f.lot_id IS NOT NULL
            AND f.lot_id IS NOT DISTINCT FROM s.lot_id AND f.learner_id IS NOT DISTINCT FROM o.learner_id
            AND f.issuer_id IS NOT DISTINCT FROM o.institution_id
            AND f.credits::text IS NOT DISTINCT FROM s.credits::text
            AND f.category IS NOT DISTINCT FROM coalesce(nullif(s.category, ''), 'general')
            AND f.level IS NOT DISTINCT FROM coalesce(nullif(s.level, 0), 1)
            AND f.field IS NOT DISTINCT FROM coalesce(s.field, '')
            AND f.rule_id IS NOT DISTINCT FROM coalesce(nullif(s.rule_id, ''), 'manual')
            AND f.rule_version IS NOT DISTINCT FROM coalesce(nullif(s.rule_version, ''), '0')
            AND f.rule_set_hash IS NOT DISTINCT FROM s.rule_set_hash
            AND f.expires_on IS NOT DISTINCT FROM s.expires_on)
    ), false)
)
""",
}
"""The parts that :data:`FAST`'s state checks read from the proved tables instead of the leaves."""
_FAST_NEEDS: Final = {
    "accounts": ("sums", "account_diffs"),
    "locks": ("others", "converts", "reversals", "freed", "held", "lock_diffs"),
    "recognitions": (
        "others", "reversals", "recognised", "latest_recognition", "undone", "last_undone", "finals",
        "decisions", "facts", "recognition_diffs",
    ),
    "conversions": ("others", "conversion_want", "conversion_diffs"),
}  # fmt: skip
_FIRST: Final = ("rows", "postings", "lots", "malformed", "multi")
FAST: Final = (
    candidates_sql(_FIRST, half=0),
    candidates_sql(_FIRST, half=1),
    candidates_sql(("locks", "recognitions", "conversions"), fast=True),
    candidates_sql(("accounts",), fast=True),
)
"""The audit of a database that is clean, with each leaf parsed once, as four statements that two
connections sharing one snapshot share out. They prove only that nothing differs: when one of them
finds anything, the audit runs :data:`SPLIT` (or :data:`CANDIDATES_SQL`) and judges what that finds.

The first two run the per-entry checks (journal rows, postings, lots) each for half of the entries,
split by a hash of the entry id, against the postings of those entries and the lots those entries
record; each also finds a recognition with more than one lot. Together, when they find nothing, the
``ledger_postings`` rows are exactly the leaves' postings, each ``ledger_lots`` row is exactly the lot
of one recognition leaf (with its outcome), each recognition has at most one lot, and each journal
row's kind is its leaf's. The last two then recompute the state from those tables as :data:`SPLIT`
does from the leaves: the balances sum ``ledger_postings``, the recognitions' lots come from
``ledger_lots``, and only the leaves that are not recognitions (a tenth of a typical journal) are
parsed, for conversions, reversals, notes and review decisions. So the leaves are parsed once in all,
where :data:`SPLIT` parses them twice."""

SETTINGS: Final = (
    # the statement's sorts and hash tables in memory; no JIT (compiling its ~200 expressions costs more
    # than it saves); hash and merge joins only (the row estimates of parsed JSON are guesses, and a
    # nested loop over a million leaves is the one plan that must never be chosen)
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL jit = off",
    "SET LOCAL enable_nestloop = off",
)
