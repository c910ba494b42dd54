// Command gendocs writes seftbot's man pages and shell completions from
// its command tree, for make dist: go run ./scripts/gendocs DIR.
// The pages' date is SOURCE_DATE_EPOCH when set, so a package rebuilt from
// the same commit is the same.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/isaric/seftbot/internal/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs DIR")
		os.Exit(2)
	}
	date := time.Now().UTC()
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gendocs: SOURCE_DATE_EPOCH:", err)
			os.Exit(2)
		}
		date = time.Unix(n, 0).UTC()
	}
	if err := cli.WriteDocs(os.Args[1], date); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
