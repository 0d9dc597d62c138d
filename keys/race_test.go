//go:build race

package keys

// raceEnabled: the race detector makes scrypt about ten times slower, so
// some tests do fewer encryptions under -race.
const raceEnabled = true
