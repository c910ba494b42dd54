//go:build race

package sim

// raceEnabled: the race detector slows content generation tenfold, so
// timing budgets are not checked under it.
const raceEnabled = true
