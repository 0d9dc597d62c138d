package pkcs11

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// moduleDirs are the directories where module-name is looked up, in
// order: Debian's multiarch and p11-kit directories, SoftHSM's, then the
// usual others.
func moduleDirs() []string {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu",
		"386": "i386-linux-gnu", "arm": "arm-linux-gnueabihf"}[runtime.GOARCH]
	var dirs []string
	if triplet != "" {
		dirs = append(dirs, "/usr/lib/"+triplet+"/pkcs11", "/usr/lib/"+triplet)
	}
	return append(dirs, "/usr/lib/softhsm", "/usr/lib/pkcs11", "/usr/lib64/pkcs11", "/usr/lib64",
		"/usr/lib", "/usr/local/lib/softhsm", "/usr/local/lib/pkcs11", "/usr/local/lib")
}

// ModulePath returns the module file the URI names: module-path as given,
// or module-name looked up as NAME, NAME.so and libNAME.so in the
// system's module directories. The file must exist and be a regular
// file. Errors are a *ModuleError, or a *URIError when the URI names no
// module.
func ModulePath(u *URI) (string, error) {
	switch {
	case u.ModulePath != "":
		fi, err := os.Stat(u.ModulePath)
		if err != nil {
			return "", &ModuleError{Module: u.ModulePath, Err: dropPathError(err)}
		}
		if !fi.Mode().IsRegular() {
			return "", &ModuleError{Module: u.ModulePath, Err: errors.New("not a regular file")}
		}
		return u.ModulePath, nil
	case u.ModuleName != "":
		dirs := moduleDirs()
		for _, d := range dirs {
			for _, n := range []string{u.ModuleName, u.ModuleName + ".so", "lib" + u.ModuleName + ".so"} {
				p := filepath.Join(d, n)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
					return p, nil
				}
			}
		}
		return "", &ModuleError{Module: u.ModuleName, Err: fmt.Errorf("not found as %s, %s.so or lib%s.so in %v; install it or give module-path=",
			u.ModuleName, u.ModuleName, u.ModuleName, dirs)}
	}
	return "", &URIError{Attr: "module-path", Reason: "missing: name the PKCS#11 module with " +
		"module-path=/usr/lib/softhsm/libsofthsm2.so or module-name=softhsm2 (after \"?\")"}
}

func dropPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
