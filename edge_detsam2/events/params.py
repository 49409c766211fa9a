"""Event-rule thresholds, all in physical units (metres, seconds, m/s).

Nothing here depends on resolution or frame rate; ``configs/default.yaml`` documents the
same keys under ``events:``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EventParams(BaseModel):
    """Thresholds of the streaming event detectors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: float = Field(
        0.1, gt=0.0, le=0.5, description="Fit window before/after a candidate impulse (s); sets latency."
    )
    impulse_min_mps: float = Field(
        0.05, gt=0.0, description="Smallest velocity change of a ball that counts as an impulse (m/s)."
    )
    significance: float = Field(
        4.0, ge=0.0, description="Velocity changes must also exceed this many standard errors of the estimated jitter."
    )
    contact_tolerance_m: float = Field(
        0.015, ge=0.0, description="Centre distance beyond 2 radii still counted as contact (m)."
    )
    alignment: float = Field(
        0.7, ge=0.0, le=1.0, description="Min cosine between a velocity change and the contact normal."
    )
    collision_min_speed_mps: float = Field(
        0.1,
        ge=0.0,
        description=(
            "A collision needs one of the two balls moving at least this fast, before or after it (m/s):"
            " slower, a velocity change is a still mask's jitter, not a contact. 0: off."
        ),
    )
    collision_transfer_mps: float = Field(
        0.02,
        ge=0.0,
        description=(
            "A ball that slows on a contact pushes its partner: unless the partner, or a ball it touches (a"
            " cradle), moves at least this fast before or after (m/s), the slowing was a mask's flicker or a"
            " ghost, not a contact. 0: off."
        ),
    )
    cushion_tolerance_m: float = Field(
        0.015, ge=0.0, description="Distance beyond one radius from a cushion still counted as contact (m)."
    )
    corner_jaw_m: float = Field(
        0.09, ge=0.0, description="Cushion contacts this close to a table corner, along the rail, are jaw contacts (m)."
    )
    middle_jaw_m: float = Field(
        0.075, ge=0.0, description="Long-rail contacts this close to mid-rail are middle-pocket jaw contacts (m)."
    )
    jaw_zone_m: float = Field(
        0.03, ge=0.0, description="Off-rail contacts within pocket radius + ball radius + this are jaw contacts (m)."
    )
    mirror_min_speed_mps: float = Field(
        1.5,
        ge=0.0,
        description="A ball this fast whose third sighting, mirrored in a cushion line, continues its first two "
        "rebounded between them, even when the impulse scan cannot separate the contact from the next (m/s); "
        "0: off.",
    )
    rest_speed_mps: float = Field(0.03, gt=0.0, description="Speed below which a ball is at rest (m/s).")
    rest_window_s: float = Field(0.3, gt=0.0, description="Window of the rest-speed fit (s).")
    shot_min_speed_mps: float = Field(
        0.25, gt=0.0, description="Cue-ball speed after a strike that counts as a shot (m/s)."
    )
    shot_end_confirm_s: float = Field(0.3, ge=0.0, description="All balls at rest this long ends a shot (s).")
    restrike_s: float = Field(
        0.5,
        ge=0.0,
        description="A strike this soon after the shot's own opens no new shot: nobody strikes twice that fast, "
        "so it is the same stroke seen twice (a cue or hand over the ball shifted its mask) or a ball mislabelled "
        "as the cue ball (s).",
    )
    departure_m: float = Field(
        0.12,
        ge=0.0,
        description="The cue ball seen this far from where it rested, in two frames, is a shot even when the "
        "strike itself was not seen (a fast cue ball the tracker lost); 0 turns this off (m).",
    )
    strike_names_cue: bool = Field(
        True,
        description="While no track is named the cue ball and no shot is open, a ball struck from rest as a cue "
        "ball would be is the cue ball (the identity classifier misnamed it): a shot, and the track is the cue "
        "ball from then on.",
    )
    first_mover_hit: bool = Field(
        True,
        description="The first object ball to leave rest in a shot was hit by the cue ball: when no cue-ball "
        "contact of that moment is seen (a cue ball too fast to track), the collision is inferred, with the "
        "ball nearest the cue ball of those set moving together.",
    )
    pot_confirm_s: float = Field(0.3, ge=0.0, description="A ball gone this long at a pocket is potted (s).")
    pot_margin_m: float = Field(0.03, ge=0.0, description="Pocket zone = pocket radius + this margin (m).")
    pot_veto_seen: bool = Field(
        True,
        description="No pot of a name that another track of the same name is seen with after the vanishing, "
        "nor of a track that another track, still seen, sat on (within a ball radius) over its last sightings: "
        "that ball is still on the table, the vanished track a duplicate mask.",
    )
    merge_s: float = Field(
        0.06, ge=0.0, description="Same event (type, balls, cushion) again within this time is one event (s)."
    )
    max_speed_mps: float = Field(
        12.0,
        gt=0.0,
        description="An observation that would need a faster ball than this (m/s) is a tracker jump (a mask moving "
        "to another ball as its own drops into a pocket) and is ignored.",
    )
    history_s: float = Field(1.5, gt=0.0, le=10.0, description="Observation history kept per ball (s).")
    retire_after_s: float = Field(3.0, gt=0.0, description="A ball unseen this long is forgotten (s).")
    cue_label: str = Field("cue_ball", min_length=1, description="Label of the cue ball.")
