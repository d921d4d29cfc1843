"""Tests of the models layer: tokenizer, factory, backends, learner, seed training."""
