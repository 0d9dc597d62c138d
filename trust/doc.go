// Package trust holds the policy that both sides of bsi's role hierarchy
// share: the error classes that separate security failures from freshness
// and operational ones, role names, and default expiry periods.
//
// # Roles
//
// bsi uses the four top-level roles of The Update Framework (TUF) and one
// delegated role per platform component:
//
//	root        keys and thresholds of all top-level roles      365 days
//	targets     delegations to component roles                   90 days
//	<component> the improvements of one component, paths C/*     90 days
//	snapshot    versions of every targets-family file             7 days
//	timestamp   the current snapshot                              1 day
//
// The timestamp's expiry is the freeze window: a client that cannot fetch a
// timestamp newer than its expiry refuses to install anything.
//
// The publisher side lives in subpackages that import the keys package;
// the client side never does, so a device agent carries no signing code.
package trust
