package pkcs11

// Algorithm is a key type Generate makes.
type Algorithm string

// Algorithms of Generate.
const (
	Ed25519 Algorithm = "ed25519" // CKM_EC_EDWARDS_KEY_PAIR_GEN, curve Ed25519
	ECDSA   Algorithm = "ecdsa"   // CKM_EC_KEY_PAIR_GEN, NIST P-256
	RSA     Algorithm = "rsa"     // CKM_RSA_PKCS_KEY_PAIR_GEN, RSABits bits
)

// RSABits is the size of the RSA keys Generate makes.
const RSABits = 3072
