"""The look of one simulated clip: the randomised domain real tables should fall inside.

One ``Look`` is drawn per clip from its own random stream (so physics and ground truth do
not depend on it). It covers what differs between real overhead table cameras: cloth colour
and texture, lamps and hot spots, pocket, rail, diamond and cushion styles, the ball set's
palette and cue-ball markings, sensor noise, defocus and compression, and people at the
rails (hands, arms, the bridge hand under the cue). README "Simulated tables" lists it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RGB = tuple[float, float, float]

#: Cloth colours (RGB) of common tournament and bar cloths; each clip jitters one.
FELT_COLOURS_RGB: dict[str, RGB] = {
    "green": (34, 112, 58),
    "olive": (70, 110, 40),
    "blue": (28, 84, 146),
    "electric_blue": (20, 100, 180),
    "red": (130, 30, 38),
    "burgundy": (100, 30, 44),
    "purple": (78, 44, 110),
    "grey": (86, 92, 98),
    "teal": (22, 104, 108),
    "tan": (150, 120, 80),
}
#: Rail woods (RGB); all are red-brown, as real rails are (R > B).
RAIL_WOODS_RGB: tuple[RGB, ...] = (
    (92, 52, 28),
    (60, 34, 20),
    (130, 80, 45),
    (110, 40, 30),
    (48, 30, 22),
    (150, 110, 70),
)
DIAMOND_COLOURS_RGB: tuple[RGB, ...] = ((230, 225, 205), (240, 240, 240), (200, 170, 90), (60, 60, 60))
POCKET_STYLES = ("plain", "net", "leather")
DIAMOND_SHAPES = ("dot", "diamond")
#: Ball sets: the American (standard) palette and a Chinese 8-ball palette whose colours
#: are brighter and shifted (numbers 1-7 solids, 9-15 stripes of the same colours, 8 black).
BALL_PALETTES: dict[str, dict[int, RGB]] = {
    "american": {
        0: (236, 232, 220),
        1: (240, 190, 20),
        2: (24, 56, 170),
        3: (200, 30, 30),
        4: (92, 36, 140),
        5: (240, 110, 20),
        6: (20, 120, 60),
        7: (120, 30, 30),
        8: (18, 18, 18),
    },
    "chinese": {
        0: (242, 240, 232),
        1: (250, 205, 40),
        2: (30, 80, 200),
        3: (225, 40, 40),
        4: (130, 50, 150),
        5: (250, 130, 40),
        6: (30, 140, 80),
        7: (140, 50, 30),
        8: (25, 25, 28),
    },
}
CUE_BALL_MARKS = ("plain", "dots", "logo")


@dataclass(frozen=True)
class Lamp:
    """A lamp's hot spot on the table, in table-relative coordinates (0..1 along each side)."""

    u: float
    v: float
    radius: float  # relative to the table length
    gain: float  # extra brightness at the centre of the spot (0.2 = +20 %)


@dataclass(frozen=True)
class Look:
    """Everything about a clip's appearance that the physics does not decide."""

    felt_name: str
    felt_rgb: RGB
    cloth_texture: float  # amplitude of low-frequency cloth shading (relative)
    weave: float  # amplitude of the fine weave (8-bit numbers)
    lamps: tuple[Lamp, ...]
    ambient_falloff: float  # brightness loss towards the rails (relative)
    rail_rgb: RGB
    cushion_shade: float  # cushion brightness relative to the felt
    pocket_style: str
    diamond_shape: str
    diamond_rgb: RGB
    palette: str
    ball_saturation: float  # per-clip colour scale of the palette
    cue_ball_mark: str
    noise_sigma: float  # sensor noise (8-bit numbers)
    defocus_sigma_px: float  # Gaussian defocus at 1280 px width (scaled with the frame)
    jpeg_quality: int  # 0: no extra compression; else each frame is JPEG-coded at this quality
    hands_per_shot: float  # expected hands/arms at the rails per shot (besides the bridge hand)
    bridge_hand: bool  # the bridge hand under the cue while it is on the table
    skin_rgb: RGB
    sleeve_rgb: RGB


def draw_look(rng: np.random.Generator, *, domain: str = "wide") -> Look:
    """A random look; ``domain='narrow'`` keeps the original green-table studio look."""
    if domain == "narrow":
        return Look(
            felt_name="green",
            felt_rgb=_jitter(rng, FELT_COLOURS_RGB["green"], 0.05),
            cloth_texture=0.0,
            weave=2.0,
            lamps=(),
            ambient_falloff=0.15,
            rail_rgb=RAIL_WOODS_RGB[0],
            cushion_shade=0.82,
            pocket_style="plain",
            diamond_shape="dot",
            diamond_rgb=DIAMOND_COLOURS_RGB[0],
            palette="american",
            ball_saturation=1.0,
            cue_ball_mark="plain",
            noise_sigma=float(rng.uniform(1.5, 3.5)),
            defocus_sigma_px=0.0,
            jpeg_quality=0,
            hands_per_shot=0.0,
            bridge_hand=False,
            skin_rgb=(200, 150, 120),
            sleeve_rgb=(40, 40, 60),
        )
    name = list(FELT_COLOURS_RGB)[int(rng.integers(len(FELT_COLOURS_RGB)))]
    n_lamps = int(rng.integers(0, 4))
    lamps = tuple(
        Lamp(
            u=float((k + 0.5) / n_lamps + rng.uniform(-0.08, 0.08)),
            v=float(0.5 + rng.uniform(-0.15, 0.15)),
            radius=float(rng.uniform(0.12, 0.35)),
            gain=float(rng.uniform(0.1, 0.45)),
        )
        for k in range(n_lamps)
    )
    skin = _jitter(rng, ((230, 190, 160), (200, 150, 120), (150, 100, 70), (100, 65, 45))[int(rng.integers(4))], 0.08)
    return Look(
        felt_name=name,
        felt_rgb=_jitter(rng, FELT_COLOURS_RGB[name], 0.12),
        cloth_texture=float(rng.uniform(0.0, 0.08)),
        weave=float(rng.uniform(1.0, 5.0)),
        lamps=lamps,
        ambient_falloff=float(rng.uniform(0.05, 0.35)),
        rail_rgb=_jitter(rng, RAIL_WOODS_RGB[int(rng.integers(len(RAIL_WOODS_RGB)))], 0.1),
        cushion_shade=float(rng.uniform(0.7, 0.95)),
        pocket_style=POCKET_STYLES[int(rng.integers(len(POCKET_STYLES)))],
        diamond_shape=DIAMOND_SHAPES[int(rng.integers(len(DIAMOND_SHAPES)))],
        diamond_rgb=DIAMOND_COLOURS_RGB[int(rng.integers(len(DIAMOND_COLOURS_RGB)))],
        palette=("american", "chinese")[int(rng.integers(2))],
        ball_saturation=float(rng.uniform(0.85, 1.1)),
        cue_ball_mark=CUE_BALL_MARKS[int(rng.integers(len(CUE_BALL_MARKS)))],
        noise_sigma=float(rng.uniform(1.0, 6.0)),
        defocus_sigma_px=float(rng.choice([0.0, rng.uniform(0.3, 1.6)])),
        jpeg_quality=int(rng.choice([0, int(rng.integers(35, 95))])),
        hands_per_shot=float(rng.uniform(0.0, 1.5)),
        bridge_hand=bool(rng.uniform() < 0.8),
        skin_rgb=skin,
        sleeve_rgb=_jitter(
            rng, ((40, 40, 60), (180, 180, 180), (120, 30, 30), (30, 30, 30))[int(rng.integers(4))], 0.1
        ),
    )


def _jitter(rng: np.random.Generator, rgb: RGB, rel: float) -> RGB:
    c = np.clip(np.asarray(rgb, dtype=np.float64) * rng.uniform(1 - rel, 1 + rel, 3), 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))


def ball_colour(look: Look | None, number: int) -> RGB:
    """Base colour of ball ``number`` (0 = cue, 9-15 = stripes of 1-7) in this look."""
    palette = BALL_PALETTES[look.palette if look else "american"]
    base = palette[number - 8 if number >= 9 else number]
    if look is None or number in (0, 8):
        return base
    grey = sum(base) / 3
    c = np.clip(grey + (np.asarray(base) - grey) * look.ball_saturation, 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))
