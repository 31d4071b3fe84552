"""The benchmark harness behind `make bench`: the performance targets P1-P6 and an S3 timing check."""
