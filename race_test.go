//go:build race

package eventbus

// raceEnabled lets the heaviest tests scale down under the race detector,
// which slows them about tenfold.
const raceEnabled = true
