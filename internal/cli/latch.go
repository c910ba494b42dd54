package cli

import "time"

// latchState is one site's login latch as status and the metrics show it.
type latchState struct {
	Site   string     `json:"site"`
	Set    bool       `json:"set"`
	Kind   string     `json:"kind,omitempty"`
	Reason string     `json:"reason,omitempty"`
	At     *time.Time `json:"at,omitempty"`
	Err    string     `json:"error,omitempty"` // the latch could not be read
}

// latchSites are the portal's two sites, each with its own account.
var latchSites = []string{"download", "upload"}

// readLatches reads each site's login latch. The latch (portal.ReadLatch)
// is not in this build yet, so each site says so rather than claim "not set".
func readLatches(stateDir string) []latchState {
	var out []latchState
	for _, s := range latchSites {
		out = append(out, latchState{Site: s, Err: "login latches are not in this build of seftbot"})
	}
	return out
}
