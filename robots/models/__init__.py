"""What robot models are, whatever drives them: joints, limits, frames, strokes."""
