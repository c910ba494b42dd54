package cli

import (
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdSimPosts checks how many password POSTs seftsim has had, over every
// account: "simposts 1".
func cmdSimPosts(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: simposts N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	for _, a := range scriptSim(ts).State().Accounts {
		got += a.PasswordPosts
	}
	if got != want {
		ts.Fatalf("seftsim had %d password POSTs, want %d", got, want)
	}
}
