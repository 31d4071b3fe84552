"""The benchmark harness behind `make bench`: P1-P6 of ../shared/spec/performance.md and an S3 timing check."""
