package wspath

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
)

// The RFC 6455 GUID appended to the client's key to compute Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgradeResult is what parseUpgrade found: the bytes of the request (0 while incomplete), the
// HTTP status of a refusal (0 when the upgrade is accepted) and, if accepted, the client's key.
type upgradeResult struct {
	n      int
	status int
	why    string
	key    []byte // a view of the request
}

// Refusal statuses and the reason logged with them.
func refuse(status int, why string) upgradeResult { return upgradeResult{status: status, why: why} }

// parseUpgrade parses an HTTP/1.1 WebSocket upgrade request (RFC 6455 §4.2.1) from the bytes
// received so far. It never waits: with an incomplete request it returns n == 0 and status 0,
// unless what is there already cannot become a valid request (garbage instead of HTTP, another
// method) or is over maxBytes. The path must equal path (the query is ignored) and, when origins
// is not empty, an Origin header must be one of them.
func parseUpgrade(b []byte, path string, origins []string, maxBytes int) upgradeResult {
	const get = "GET "
	if k := min(len(b), len(get)); !bytes.Equal(b[:k], []byte(get)[:k]) {
		if isMethodLike(b[:k]) {
			return refuse(http.StatusMethodNotAllowed, "method is not GET")
		}
		return refuse(http.StatusBadRequest, "not an HTTP request")
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) >= maxBytes {
			return refuse(http.StatusRequestHeaderFieldsTooLarge, "request too large")
		}
		return upgradeResult{}
	}
	if end+4 > maxBytes {
		return refuse(http.StatusRequestHeaderFieldsTooLarge, "request too large")
	}
	head := b[:end]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	// Request line: GET SP request-target SP HTTP/1.1
	target, proto, ok := bytes.Cut(line[len(get):], []byte(" "))
	if !ok || len(target) == 0 {
		return refuse(http.StatusBadRequest, "malformed request line")
	}
	if !bytes.Equal(proto, []byte("HTTP/1.1")) {
		return refuse(http.StatusHTTPVersionNotSupported, "not HTTP/1.1")
	}
	reqPath, _, _ := bytes.Cut(target, []byte("?"))
	var host, upgrade, connection, version, key, origin bool
	var res upgradeResult
	originOK := len(origins) == 0
	for len(rest) > 0 {
		var hl []byte
		hl, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(hl, []byte(":"))
		if !ok || len(name) == 0 || name[0] == ' ' || name[0] == '\t' || bytes.ContainsAny(name, " \t") {
			return refuse(http.StatusBadRequest, "malformed header line")
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			if host {
				return refuse(http.StatusBadRequest, "two Host headers")
			}
			host = true
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = upgrade || hasToken(value, "websocket")
		case bytes.EqualFold(name, []byte("Connection")):
			connection = connection || hasToken(value, "upgrade")
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Version")):
			version = bytes.Equal(value, []byte("13"))
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Key")):
			if key || len(value) != 24 { // checked first: Decode writes as much as value holds
				return refuse(http.StatusBadRequest, "bad Sec-WebSocket-Key")
			}
			var raw [18]byte
			if n, err := base64.StdEncoding.Decode(raw[:], value); err != nil || n != 16 {
				return refuse(http.StatusBadRequest, "bad Sec-WebSocket-Key")
			}
			key, res.key = true, value
		case bytes.EqualFold(name, []byte("Origin")):
			if origin {
				return refuse(http.StatusBadRequest, "two Origin headers")
			}
			origin = true
			for _, o := range origins {
				if string(value) == o {
					originOK = true
				}
			}
		}
	}
	switch {
	case string(reqPath) != path:
		return refuse(http.StatusNotFound, "path "+strconv.Quote(string(reqPath)))
	case !host:
		return refuse(http.StatusBadRequest, "no Host header")
	case !upgrade || !connection:
		return refuse(http.StatusUpgradeRequired, "not a websocket upgrade")
	case !version:
		return refuse(http.StatusUpgradeRequired, "Sec-WebSocket-Version is not 13")
	case !key:
		return refuse(http.StatusBadRequest, "no Sec-WebSocket-Key")
	case origin && !originOK:
		return refuse(http.StatusForbidden, "origin not allowed")
	}
	res.n = end + 4
	return res
}

// hasToken reports whether the comma-separated header value v holds token, case-insensitively.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.Trim(t, " \t"), []byte(token)) {
			return true
		}
	}
	return false
}

// acceptResponse returns the 101 response for the client's key.
func acceptResponse(key []byte) []byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(acceptGUID))
	var sum [sha1.Size]byte
	accept := base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + accept + "\r\n\r\n")
}

// refusalResponse returns the response to a refused upgrade; the connection is closed after it.
func refusalResponse(status int) []byte {
	extra := ""
	if status == http.StatusUpgradeRequired {
		extra = "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"
	}
	return []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		extra + "Connection: close\r\nContent-Length: 0\r\n\r\n")
}

// isMethodLike reports whether b could start an HTTP request line with another method: upper-case
// letters, then perhaps a space.
func isMethodLike(b []byte) bool {
	for i, c := range b {
		if (c < 'A' || c > 'Z') && !(c == ' ' && i > 0) {
			return false
		}
	}
	return len(b) > 0
}
