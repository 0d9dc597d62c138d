//go:build race

package main

// raceDetector reports a build with the race detector, under which a few
// catalogue entries (inflating 1 GiB) are too slow for CI.
const raceDetector = true
