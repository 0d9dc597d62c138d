package pkcs11_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeviceSideLinksNoPKCS11: the device side (agent, trust/client,
// install, manifest, rollout) must not depend on this package, on
// crypto11 or on miekg/pkcs11 (cgo): a device binary links no signing
// code and no cgo. Only the full bsi does.
func TestDeviceSideLinksNoPKCS11(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	device := []string{
		"github.com/bsiframework/bsi/agent/...",
		"github.com/bsiframework/bsi/trust/client/...",
		"github.com/bsiframework/bsi/install/...",
		"github.com/bsiframework/bsi/manifest/...",
		"github.com/bsiframework/bsi/rollout/...",
	}
	cmd := exec.Command(goTool, append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, device...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/bsiframework/bsi/keys", "github.com/ThalesGroup/crypto11", "github.com/miekg/pkcs11"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("the device side depends on %s", dep)
			}
		}
	}
	if !strings.Contains(string(out), "github.com/bsiframework/bsi/trust/client") {
		t.Fatalf("go list -deps did not list the device packages:\n%.500s", out)
	}
}
