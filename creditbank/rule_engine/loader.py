"""Loading and checking rule sets: YAML -> validated, compiled, hashed :class:`RuleSet`.

How this works
--------------
:func:`check` never stops at the first problem: every file is parsed, every rule validated on its
own (one broken rule does not hide the next), every CEL expression compiled and type-checked, and
then the rules are checked against each other. Each problem is a :class:`Finding` naming the file,
the 1-based line in the YAML and the rule id. Lines come from PyYAML's node marks: the file is
*composed* to a node tree, a map from YAML path (``("rules", 3, "condition")``) to line is built
from it, and a pydantic error location or a CEL error position is turned into the nearest line.
:func:`load_rule_set` runs the same checks and raises :class:`RuleSetInvalid` with all findings
when there is any error.

Rule files: ``ruleset.yaml`` is the manifest; the rules are in the files the manifest lists in
``files``, or else in every ``*.yaml`` under the set's folder except the manifest and ``tests/``,
in sorted path order. Rule order (file order, then position) is the tie-breaker after ``priority``.

The rule-set hash (cited by every recognition and conversion) is the SHA-256, in hex, of this
canonical form of the manifest and every rule file (test cases excluded, so adding a case does not
change what a lot cites): for each file in order of its POSIX path relative to the set folder,
``path + "\\n" + str(len(content)) + "\\n" + content + "\\n"`` with ``content`` the file's bytes
with CRLF turned into LF (so a Windows checkout hashes alike). Any change to a rule changes it.
"""

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from cel_expr_python import cel
from pydantic import BaseModel, TypeAdapter, ValidationError

from creditbank.i18n import msg
from creditbank.rule_engine import cel_env, unmet
from creditbank.rule_engine.errors import RuleSetInvalid, RuleSetNotFound
from creditbank.rule_engine.explain import TEMPLATE_NAMES, placeholder_roots
from creditbank.rule_engine.models import Finding, ReviewStage, Text
from creditbank.rule_engine.schemas import (
    CapRule,
    ConversionRule,
    Defaults,
    Manifest,
    RecognitionRule,
    Rule,
    RuleFile,
    Validity,
    error_said,
)

MANIFEST = "ruleset.yaml"
TESTS_DIR = "tests"

YamlPath = tuple[str | int, ...]

_RULE_ADAPTER: TypeAdapter[RecognitionRule | ConversionRule | CapRule] = TypeAdapter(Rule)

R = TypeVar("R", RecognitionRule, ConversionRule, CapRule)


# -- compiled rule set ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placed(Generic[R]):
    """A validated rule with where it was written and its position in the set."""

    rule: R
    file: str
    line: int
    order: int


@dataclass(frozen=True, slots=True)
class CompiledRecognition:
    """A recognition rule with its CEL programs compiled once, and its defaults resolved."""

    placed: Placed[RecognitionRule]
    condition: cel.Expression
    credits: cel.Expression
    level: cel.Expression | None
    field: cel.Expression
    review_condition: cel.Expression | None
    count_once_key: cel.Expression | None
    validity: Validity | None
    review_stages: tuple[ReviewStage, ...]
    heading: Text
    parts: tuple[tuple[str, cel.Expression], ...] = ()
    """The condition's top-level ``&&`` parts, compiled, to name the one an outcome did not meet
    (empty when a part does not compile on its own)."""

    @property
    def rule(self) -> RecognitionRule:
        return self.placed.rule


@dataclass(frozen=True)
class RuleSet:
    """A loaded rule set: immutable, with its hash and its rules in evaluation order.

    ``recognition_by_type`` maps an outcome type to its recognition rules sorted by
    (``-priority``, file order), the order in which ``evaluate`` tries them.
    """

    id: str
    version: str
    hash: str
    path: Path
    manifest: Manifest
    files: tuple[str, ...]
    recognition: tuple[CompiledRecognition, ...]
    conversion: tuple[Placed[ConversionRule], ...]
    caps: tuple[Placed[CapRule], ...]
    env: cel.Env = field(repr=False)
    recognition_by_type: Mapping[str, tuple[CompiledRecognition, ...]] = field(repr=False)

    @property
    def credit_hours(self) -> int:
        return self.manifest.credit_hours

    def rule_ids(self) -> list[str]:
        ids = [r.rule.id for r in self.recognition]
        ids += [r.rule.id for r in self.conversion]
        ids += [r.rule.id for r in self.caps]
        return sorted(set(ids))


# -- YAML with line numbers ---------------------------------------------------------------------


@dataclass(slots=True)
class YamlDoc:
    """A parsed YAML file: its data and the 1-based line of every value, by YAML path."""

    file: str
    data: Any
    lines: dict[YamlPath, int]
    block: set[YamlPath]

    def line_of(self, path: Iterable[str | int]) -> int:
        """Line of the deepest node on ``path`` (unknown steps, like union tags, are skipped)."""
        best: YamlPath = ()
        for step in path:
            candidate = (*best, step)
            if candidate in self.lines:
                best = candidate
        return self.lines.get(best, 1)

    def expr_line(self, path: YamlPath, line_in_expr: int) -> int:
        """Line in the file of line ``line_in_expr`` of the expression at ``path``."""
        start = self.lines.get(path)
        if start is None:
            return self.line_of(path)
        offset = 1 if path in self.block else 0
        return start + offset + line_in_expr - 1


def _walk(node: yaml.Node, path: YamlPath, doc: YamlDoc, findings: list[Finding], file: str) -> None:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        doc.block.add(path)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                findings.append(
                    Finding(
                        "yaml-duplicate-key",
                        msg("finding.yaml_duplicate_key", key=name),
                        file,
                        key.start_mark.line + 1,
                    )
                )
            seen.add(name)
            _walk(value, (*path, name), doc, findings, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), doc, findings, file)


def read_yaml(path: Path, findings: list[Finding]) -> YamlDoc | None:
    """Parse ``path`` keeping line numbers; a problem is appended to ``findings`` (returns None)."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        findings.append(Finding("file-unreadable", msg("finding.file_unreadable", error=str(exc)), file))
        return None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                findings.append(Finding("yaml-empty", msg("finding.yaml_empty"), file, 1))
                return None
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        findings.append(
            Finding("yaml-syntax", msg("finding.yaml_syntax", error=f"{exc.problem or exc}"), file, line)
        )
        return None
    except yaml.YAMLError as exc:
        findings.append(Finding("yaml-syntax", msg("finding.yaml_syntax", error=str(exc)), file))
        return None
    doc = YamlDoc(file, data, {}, set())
    _walk(node, (), doc, findings, file)
    return doc


def schema_findings(
    exc: ValidationError,
    doc: YamlDoc,
    base: YamlPath,
    rule_id: str | None,
    code: str = "schema",
    tag: str | None = None,
) -> list[Finding]:
    """One finding per pydantic error, located at the nearest YAML line. Errors under a discriminated
    union carry its ``tag`` first: the text leaves it out."""
    out: list[Finding] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        shown = loc[1:] if tag is not None and len(loc) > 1 and loc[0] == tag else loc
        where = ".".join(str(p) for p in shown) or "(top)"
        said = msg("finding.schema", where=where, error=error_said(err))
        out.append(Finding(code, said, doc.file, doc.line_of((*base, *loc)), rule_id))
    return out


# -- checking ------------------------------------------------------------------------------------


def find_rule_sets(path: Path) -> list[Path]:
    """Folders holding a ``ruleset.yaml`` at or under ``path`` (sorted).

    Raises:
        RuleSetNotFound: when ``path`` does not exist or holds no rule set.
    """
    if path.is_file() and path.name == MANIFEST:
        return [path.parent]
    if (path / MANIFEST).is_file():
        return [path]
    if not path.is_dir():
        raise RuleSetNotFound(msg("detail.rule_engine.loader.path_missing", path=path))
    found = sorted(p.parent for p in path.rglob(MANIFEST) if TESTS_DIR not in p.relative_to(path).parts)
    if not found:
        raise RuleSetNotFound(
            msg("detail.rule_engine.loader.no_manifest_under", MANIFEST=MANIFEST, path=path)
        )
    return found


def rule_files(set_dir: Path, manifest: Manifest | None) -> list[Path]:
    """Rule files of a set, in load order (see the module docstring)."""
    if manifest is not None and manifest.files is not None:
        return [set_dir / name for name in manifest.files]
    return sorted(
        p
        for p in set_dir.rglob("*.yaml")
        if p.name != MANIFEST or p.parent != set_dir
        if TESTS_DIR not in p.relative_to(set_dir).parts
    )


def rule_set_hash(set_dir: Path, files: Iterable[Path]) -> str:
    """SHA-256 hex of the canonical form of the given files (see the module docstring)."""
    digest = hashlib.sha256()
    entries = sorted((p.relative_to(set_dir).as_posix(), p) for p in files)
    for rel, p in entries:
        content = p.read_bytes().replace(b"\r\n", b"\n")
        digest.update(rel.encode("utf-8") + b"\n" + str(len(content)).encode("ascii") + b"\n")
        digest.update(content + b"\n")
    return digest.hexdigest()


@dataclass
class _Build:
    """Everything gathered while checking one rule set."""

    set_dir: Path
    findings: list[Finding] = field(default_factory=list)
    manifest: Manifest | None = None
    files: list[Path] = field(default_factory=list)
    recognition: list[CompiledRecognition] = field(default_factory=list)
    conversion: list[Placed[ConversionRule]] = field(default_factory=list)
    caps: list[Placed[CapRule]] = field(default_factory=list)
    placed: list[Placed[Any]] = field(default_factory=list)
    env: cel.Env = field(default_factory=cel_env.new_env)


def _check_manifest(build: _Build) -> None:
    path = build.set_dir / MANIFEST
    doc = read_yaml(path, build.findings)
    if doc is None:
        return
    try:
        build.manifest = Manifest.model_validate(doc.data)
    except ValidationError as exc:
        build.findings.extend(schema_findings(exc, doc, (), None, "manifest"))


def _check_file(build: _Build, path: Path) -> None:
    doc = read_yaml(path, build.findings)
    if doc is None:
        return
    try:
        rule_file = RuleFile.model_validate(doc.data)
    except ValidationError as exc:
        build.findings.extend(schema_findings(exc, doc, (), None))
        return
    for index, raw in enumerate(rule_file.rules):
        base: YamlPath = ("rules", index)
        rule_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        try:
            rule = _RULE_ADAPTER.validate_python(raw)
        except ValidationError as exc:
            kind = raw.get("kind") if isinstance(raw, dict) else None
            build.findings.extend(
                schema_findings(exc, doc, base, rule_id, tag=kind if isinstance(kind, str) else None)
            )
            continue
        line, order = doc.line_of(base), len(build.placed)
        if isinstance(rule, RecognitionRule):
            placed_rec = Placed(rule, doc.file, line, order)
            build.placed.append(placed_rec)
            compiled = _compile_recognition(build, placed_rec, doc, base)
            if compiled is not None:
                build.recognition.append(compiled)
        elif isinstance(rule, ConversionRule):
            placed_conv = Placed(rule, doc.file, line, order)
            build.placed.append(placed_conv)
            build.conversion.append(placed_conv)
            _check_explanation(build, rule.id, rule.explanation, doc, base)
        else:
            placed_cap = Placed(rule, doc.file, line, order)
            build.placed.append(placed_cap)
            build.caps.append(placed_cap)
            _check_explanation(build, rule.id, rule.explanation, doc, base)


def _compile_recognition(
    build: _Build, placed: Placed[RecognitionRule], doc: YamlDoc, base: YamlPath
) -> CompiledRecognition | None:
    rule = placed.rule
    ok = True

    def compile_slot(name: str, text: str | None, allowed: tuple[cel.Type, ...], path: YamlPath) -> Any:
        nonlocal ok
        if text is None:
            return None
        try:
            return cel_env.compile_expr(build.env, text, allowed, name)
        except cel_env.CelCompileError as exc:
            ok = False
            line = doc.expr_line((*base, *path), exc.line)
            build.findings.append(
                Finding(
                    "cel",
                    msg("finding.cel", slot=name, error=exc.message, expression=text.strip()),
                    doc.file,
                    line,
                    rule.id,
                )
            )
            return None

    condition = compile_slot("condition", rule.condition, cel_env.BOOL, ("condition",))
    credits = compile_slot("credits", rule.credits, cel_env.NUMBER, ("credits",))
    level = compile_slot("level", rule.level, cel_env.INT, ("level",))
    field_expr = compile_slot("field", rule.field, cel_env.STRING, ("field",))
    review_condition = compile_slot(
        "review.condition", rule.review.condition, cel_env.BOOL, ("review", "condition")
    )
    count_once = compile_slot("count_once_key", rule.count_once_key, cel_env.STRING, ("count_once_key",))
    _check_explanation(build, rule.id, rule.explanation, doc, base)
    if not ok:
        return None
    defaults = build.manifest.defaults if build.manifest is not None else None
    return CompiledRecognition(
        placed=placed,
        condition=condition,
        credits=credits,
        level=level,
        field=field_expr,
        review_condition=review_condition,
        count_once_key=count_once,
        validity=_validity(rule, defaults),
        review_stages=rule.review.stages or (defaults.review_stages if defaults else ("district", "city")),
        heading=Text.of(msg("rule.heading", title=rule.title.both, rule_id=rule.id, version=rule.version)),
        parts=_condition_parts(build, rule.condition),
    )


def _condition_parts(build: _Build, condition: str | None) -> tuple[tuple[str, cel.Expression], ...]:
    parts: list[tuple[str, cel.Expression]] = []
    for text in unmet.conjuncts(condition or ""):
        try:
            parts.append((text, cel_env.compile_expr(build.env, text, cel_env.BOOL, "condition")))
        except cel_env.CelCompileError:
            return ()
    return tuple(parts)


def _validity(rule: RecognitionRule, defaults: Defaults | None) -> Validity | None:
    """The rule's own validity, else its category's (``years: null`` = none), else the set's default."""
    if rule.validity is not None:
        return rule.validity
    if defaults is None:
        return None
    by_category = defaults.validity_by_category.get(rule.category)
    if by_category is not None:
        return by_category.as_validity()
    return defaults.validity


def _check_explanation(
    build: _Build, rule_id: str, text: BaseModel | None, doc: YamlDoc, base: YamlPath
) -> None:
    if text is None:
        return
    for lang in ("zh", "en"):
        template = getattr(text, lang)
        try:
            unknown = [n for n in placeholder_roots(template) if n not in TEMPLATE_NAMES]
        except ValueError as exc:
            unknown = []
            build.findings.append(
                Finding(
                    "template",
                    msg("finding.template_invalid", lang=lang, error=str(exc)),
                    doc.file,
                    doc.line_of((*base, "explanation", lang)),
                    rule_id,
                )
            )
        for name in unknown:
            build.findings.append(
                Finding(
                    "template",
                    msg("finding.template_unknown", lang=lang, name="{" + name + "}"),
                    doc.file,
                    doc.line_of((*base, "explanation", lang)),
                    rule_id,
                )
            )


def _check_across(build: _Build) -> None:
    """Problems between rules: duplicates, overlapping dates, kinds, version order."""
    by_id: dict[str, list[Placed[Any]]] = defaultdict(list)
    for placed in build.placed:
        by_id[placed.rule.id].append(placed)
    for rule_id, versions in by_id.items():
        kinds = {p.rule.kind for p in versions}
        if len(kinds) > 1:
            last = versions[-1]
            build.findings.append(
                Finding(
                    "kind-mismatch",
                    msg("finding.kind_mismatch", kinds=sorted(kinds)),
                    last.file,
                    last.line,
                    rule_id,
                )
            )
        for i, a in enumerate(versions):
            for b in versions[i + 1 :]:
                if a.rule.version == b.rule.version:
                    build.findings.append(
                        Finding(
                            "duplicate-id",
                            msg("finding.duplicate_id", version=b.rule.version, first=f"{a.file}:{a.line}"),
                            b.file,
                            b.line,
                            rule_id,
                        )
                    )
                elif a.rule.effective.overlaps(b.rule.effective):
                    build.findings.append(
                        Finding(
                            "overlapping-effective",
                            msg(
                                "finding.overlapping_effective",
                                version=a.rule.version,
                                at=f"{a.file}:{a.line}",
                                other=b.rule.version,
                            ),
                            b.file,
                            b.line,
                            rule_id,
                        )
                    )
        ordered = sorted(versions, key=lambda p: p.rule.effective.from_)
        for a, b in itertools.pairwise(ordered):
            if b.rule.version < a.rule.version:
                build.findings.append(
                    Finding(
                        "version-order",
                        msg("finding.version_order", version=b.rule.version, earlier=a.rule.version),
                        b.file,
                        b.line,
                        rule_id,
                    )
                )
    if build.manifest is not None and build.manifest.defaults.conversion_remainder is None:
        first = next((p for p in build.placed if p.rule.kind == "conversion"), None)
        if first is not None:
            build.findings.append(
                Finding(
                    "remainder-policy",
                    msg("finding.remainder_policy"),
                    first.file,
                    first.line,
                    first.rule.id,
                )
            )
    if build.manifest is not None:
        for placed in build.placed:
            if placed.rule.effective.from_ < build.manifest.effective_from:
                build.findings.append(
                    Finding(
                        "effective-before-set",
                        msg(
                            "finding.effective_before_set",
                            rule_from=placed.rule.effective.from_,
                            set_from=build.manifest.effective_from,
                        ),
                        placed.file,
                        placed.line,
                        placed.rule.id,
                        severity="warning",
                    )
                )


def _check_set(set_dir: Path) -> _Build:
    build = _Build(set_dir)
    _check_manifest(build)
    build.files = rule_files(set_dir, build.manifest)
    if not build.files:
        build.findings.append(Finding("no-rules", msg("finding.no_rules"), str(set_dir / MANIFEST)))
    for path in build.files:
        if not path.is_file():
            build.findings.append(
                Finding("file-missing", msg("finding.file_missing", path=path), str(set_dir / MANIFEST))
            )
            continue
        _check_file(build, path)
    _check_across(build)
    return build


def check(path: Path | str) -> list[Finding]:
    """Every problem of every rule set at or under ``path`` (empty when all is well).

    Raises:
        RuleSetNotFound: when there is no rule set at or under ``path``.
    """
    findings: list[Finding] = []
    for set_dir in find_rule_sets(Path(path)):
        findings.extend(_check_set(set_dir).findings)
    return findings


def load_rule_set(path: Path | str) -> RuleSet:
    """Load, check, compile and hash the rule set whose folder (or ``ruleset.yaml``) is ``path``.

    Raises:
        RuleSetNotFound: when ``path`` is not a rule set folder.
        RuleSetInvalid: when the set has any error finding (all of them are attached).
    """
    path = Path(path)
    set_dir = path.parent if path.name == MANIFEST else path
    if not (set_dir / MANIFEST).is_file():
        raise RuleSetNotFound(
            msg("detail.rule_engine.loader.no_manifest_in", MANIFEST=MANIFEST, set_dir=set_dir)
        )
    build = _check_set(set_dir)
    errors = [f for f in build.findings if f.severity == "error"]
    if errors or build.manifest is None:
        raise RuleSetInvalid(errors)
    manifest = build.manifest
    by_type: dict[str, list[CompiledRecognition]] = defaultdict(list)
    ordered = sorted(build.recognition, key=lambda c: (-c.rule.priority, c.placed.order))
    for compiled in ordered:
        for outcome_type in compiled.rule.applies_to:
            by_type[outcome_type].append(compiled)
    return RuleSet(
        id=manifest.id,
        version=manifest.version,
        hash=rule_set_hash(set_dir, [set_dir / MANIFEST, *build.files]),
        path=set_dir,
        manifest=manifest,
        files=tuple(str(p) for p in build.files),
        recognition=tuple(ordered),
        conversion=tuple(sorted(build.conversion, key=lambda p: (-p.rule.priority, p.order))),
        caps=tuple(build.caps),
        env=build.env,
        recognition_by_type={k: tuple(v) for k, v in by_type.items()},
    )
