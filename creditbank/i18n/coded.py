"""Message ids that the code builds at run time, listed so that extraction (``pybabel extract``) sees them.

A template writing ``t.label("type", outcome.outcome_type)`` or ``t("done." ~ done)`` names no
literal id, so each id it can reach is marked here with :func:`N_`. A new coded value (an outcome
type, a check, a skip reason…) gets its line here and its texts in both catalogues; the test of
the catalogues fails until it has them.
"""

from creditbank.i18n import N_

CODED: tuple[str, ...] = (
    # a certificate's status: t("archive.cert_status_" ~ status)
    N_("archive.cert_status_active"),
    N_("archive.cert_status_revoked"),
    N_("archive.cert_status_superseded"),
    N_("archive.cert_status_suspended"),
    # a certificate's kind (lot, clr)
    N_("archive.certificate_kind_clr"),
    N_("archive.certificate_kind_lot"),
    # a consent's state
    N_("archive.consent_state_active"),
    N_("archive.consent_state_revoked"),
    N_("archive.consent_state_used"),
    # how a consent was given
    N_("archive.consent_via_api"),
    N_("archive.consent_via_archive"),
    N_("archive.consent_via_transfer"),
    # outcome categories: t.label("category", ...)
    N_("category.community_education"),
    N_("category.degree_course"),
    N_("category.elderly_education"),
    N_("category.general"),
    N_("category.non_degree_training"),
    N_("category.online_course"),
    N_("category.skills_competition"),
    N_("category.vocational_certificate"),
    N_("category.work_experience"),
    # verification checks: t.label("check", ...)
    N_("check.issuer"),
    N_("check.key"),
    N_("check.learner"),
    N_("check.ledger"),
    N_("check.proof"),
    N_("check.status"),
    N_("check.validity"),
    # conversion destinations: t.label("destination", ...)
    N_("destination.course"),
    N_("destination.elective_bucket"),
    N_("destination.generic_course"),
    # notices after a form on the archive page (?done=...)
    N_("done.certificate"),
    N_("done.consent"),
    N_("done.consent_revoked"),
    N_("done.correction"),
    N_("done.grant"),
    N_("done.grant_revoked"),
    N_("done.share_revoked"),
    N_("done.transfer"),
    # form validation messages by pydantic error type
    N_("err.date_from_datetime_parsing"),
    N_("err.date_parsing"),
    N_("err.decimal_max_digits"),
    N_("err.decimal_max_places"),
    N_("err.decimal_parsing"),
    N_("err.greater_than"),
    N_("err.greater_than_equal"),
    N_("err.less_than_equal"),
    N_("err.literal_error"),
    N_("err.missing"),
    N_("err.string_pattern_mismatch"),
    N_("err.string_too_long"),
    N_("err.string_too_short"),
    # outcome form fields and their hints: t("field." ~ name)
    N_("field.achieved_on"),
    N_("field.course_code"),
    N_("field.evidence_hash"),
    N_("field.evidence_hash.hint"),
    N_("field.field"),
    N_("field.grade"),
    N_("field.grade.hint"),
    N_("field.hours"),
    N_("field.identity_number"),
    N_("field.learner_id"),
    N_("field.learner_id.hint"),
    N_("field.learner_name"),
    N_("field.learner_name.hint"),
    N_("field.level.hint"),
    N_("field.reference.hint"),
    N_("field.score"),
    # the rule set's remainder policy
    N_("plan.remainder_policy_forfeit"),
    # roles: t("role." ~ role)
    N_("role.admin"),
    N_("role.auditor"),
    N_("role.institution"),
    N_("role.learner"),
    N_("role.reviewer"),
    # upload report row results
    N_("row.created"),
    N_("row.duplicate"),
    N_("row.error"),
    # why a lot is not converted: t.label("skip", ...)
    N_("skip.already_converted"),
    N_("skip.cap_certificates"),
    N_("skip.cap_share"),
    N_("skip.counted_once"),
    N_("skip.duplicate_lot"),
    N_("skip.expired"),
    N_("skip.no_equivalence"),
    # review stages
    N_("stage.city"),
    N_("stage.district"),
    # recognition statuses: t.label("status", ...)
    N_("status.rejected"),
    N_("status.review"),
    N_("status.revoked"),
    N_("status.superseded"),
    # transfer statuses: t.label("transfer", ...)
    N_("transfer.accepted"),
    N_("transfer.issued"),
    N_("transfer.rejected"),
    N_("transfer.withdrawn"),
    # outcome types: t.label("type", ...)
    N_("type.community_course"),
    N_("type.competition_award"),
    N_("type.degree_course"),
    N_("type.mooc"),
    N_("type.one_plus_x_certificate"),
    N_("type.skill_level_certificate"),
    N_("type.training_course"),
    N_("type.work_experience"),
)
