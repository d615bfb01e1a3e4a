"""What the hotline says and texts: every line in Mandarin and English side by side
(prompts), how dates, times, keys and numbers are spoken (speaking), and the texts sent to
patients (texts).  Below the call flows, the jobs and the staff pages, which all word
things through it; above records, whose rows it words."""
