// Command gotufclient runs go-tuf v2's updater as a client of the TUF
// conformance CLI protocol, so that "bsi conformance run" can test it:
//
//	go build -o gotufclient ./conformance/internal/gotufclient
//	bsi conformance run --client ./gotufclient
package main

import (
	"os"

	"github.com/bsiframework/bsi/conformance/internal/protoclient"
)

func main() {
	os.Exit(protoclient.Main(os.Args[1:], protoclient.Fault(os.Getenv("BSI_BROKEN_CLIENT")), os.Stderr))
}
