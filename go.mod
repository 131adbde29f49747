module github.com/sttfast/sttfast

go 1.26.0

require (
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/valyala/bytebufferpool v1.0.0
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
)
