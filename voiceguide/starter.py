"""The commented starter routine that `voiceguide new` writes."""

from __future__ import annotations


def starter_routine(title: str) -> str:
    return f"""\
# A voiceguide routine. Every key is explained by 'voiceguide docs' (the routine format reference).
# Check it with 'voiceguide check FILE', hear the timeline with 'voiceguide plan FILE',
# and make the session with 'voiceguide render FILE -o session.mp3'.

title: {title}
description: A short facial massage to make your own.
language: en                     # picks the default voice; 'voiceguide voices' lists them
# voice: {{name: en-us, rate_wpm: 140, preset: soft}}
pace: 1.0                        # 0.8 gives every hold and stroke 25 % more time
music: {{track: warm-pad, volume_db: -20}}   # or ocean-wash, soft-arpeggio, rain-leaves, a file, or none
chimes: bowl                     # bowl, bell, wood or none
lead_in: 5s                      # music alone before the first words

intro: >-
  Sit comfortably and warm a few drops of oil between your palms.
  Skip this massage on broken or irritated skin, and keep oil away from your eyes.

sections:                        # each section is a chapter in the MP3
  - title: Neck
    steps:
      - say: Make small, slow circles in the hollows above your collarbones.
        repeat: 8                # strokes
        every: 2.5s              # seconds per stroke
        count: true              # speak the stroke numbers
      - say: Stroke lightly down the sides of your neck toward the collarbones.
        hold: 20s                # hands-on time after the instruction
        sides: [left, right]     # each side gets the full time, with a switch cue between

  - title: Jaw
    steps:
      - say: Glide your knuckles from the chin along the jaw line to just below the ears.
        hold: 30s
      - breathe: {{in: 4, hold: 4, out: 6, cycles: 3}}
      - pause: 5s                # music only

outro: Rest your hands. Notice how your face feels.
"""
