"""Tests of the web client: its files and HTTP answers, and its flows in a real browser."""
