//go:build race

package main

// raceEnabled: the tests run with -race, so the mta they start is built
// with -race too, and a data race it reports fails the test.
const raceEnabled = true
