// Command seftbot moves research data through NHS England's SEFT portal:
// download, encrypt, relay and report. See README.md.
package main

import (
	"os"

	"github.com/isaric/seftbot/internal/cli"
)

func main() { os.Exit(cli.Main()) }
