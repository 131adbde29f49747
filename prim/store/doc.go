// Package store is the seed's StorageProvider in Go: content-addressed storage keyed by stc.Hash
// (the SHA-256 content address, STC.hash).
//
// Put returns the key of what it stored, and identical content is stored once, because the key
// is the content's hash. Get checks what it read against its key before returning it, so a
// disk, a copy or an attacker that changed the bytes is caught at the read (ErrCorrupt, in a
// *CorruptError naming the key) instead of being handed on. Two implementations: Memory (a map,
// for tests and caches) and Dir (one file per object in a directory, written atomically through
// a temporary file and a rename, so a crash leaves either the whole object or none of it).
//
// Reads are bounded: a Dir refuses a file larger than its MaxObjectSize before reading it
// (ErrTooLarge), so a planted file cannot make a reader allocate without limit.
//
// The package sits above ctrl and imports only stc: storage knows nothing of sessions. An
// application moves objects between nodes with package objcodec and keeps them here.
package store
