// Package fault is a fault-injection hook for crash and disk-error tests,
// compiled into test builds of bsi only.
//
// The write paths of bsi (atomic files, the installer's journal and
// extraction, the publisher's workspace and destinations, the agent's state,
// the client's trusted metadata store) call Point before and after each
// write, fsync, rename, removal and directory sync that matters, and Check or
// CheckPath where they can return an error:
//
//	fault.Point("atomicfile.rename")
//	if err := fault.CheckPath("atomicfile.write", f.Name()); err != nil {
//		return err
//	}
//
// # Normal builds
//
// Without the build tag bsifault, Point does nothing and Check and CheckPath
// return nil: the functions are empty and the compiler inlines them away.
//
// # Test builds
//
// A binary built with "go build -tags bsifault" reads its environment once,
// at the first point, and counts points from 1 over the whole process (Point,
// Check and CheckPath alike):
//
//	BSI_FAULT_TRACE=FILE    append one line per point to FILE: "N op", or
//	                        "N op error" for a point (Check, CheckPath) that
//	                        can return an error, so that a harness can count
//	                        the points of an ordinary run and know which
//	                        of them can fail
//	BSI_FAULT_KILL_AT=N     SIGKILL the process at the Nth point
//	BSI_FAULT_ERR_AT=N      make the Nth point return BSI_FAULT_ERR, when it
//	BSI_FAULT_ERR=E         is a Check or CheckPath (E is ENOSPC, EROFS or
//	                        EIO); a Point at N is passed
//
// The injected error is the kernel's errno (errors.Is(err, syscall.ENOSPC)
// holds), wrapped in an *fs.PathError naming the file for CheckPath, so that
// the caller reports it as it would a real failure.
//
// # Example
//
//	go build -tags bsifault -o /tmp/bsi ./cmd/bsi
//	BSI_FAULT_TRACE=/tmp/trace /tmp/bsi repo publish ws   # count: wc -l /tmp/trace
//	BSI_FAULT_KILL_AT=7 /tmp/bsi repo publish ws          # killed at point 7
//	BSI_FAULT_ERR_AT=3 BSI_FAULT_ERR=ENOSPC /tmp/bsi repo publish ws
//
// Op names are stable: "PACKAGE.WHAT.STEP" such as "atomicfile.rename",
// "install.journal.sync" or "repo.dest.put".
package fault
