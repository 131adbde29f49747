-- Wireshark dissector for STT, sttfast's encrypted peer-to-peer transport (docs/PROTOCOL.md).
--
--   wireshark -X lua_script:tools/wireshark/stt.lua capture.pcap
--   tshark -X lua_script:tools/wireshark/stt.lua -r capture.pcap -Y sttfast
--
-- Wireshark has a protocol named "stt" already (Stateless Transport Tunneling, packet-stt.c),
-- and a Lua Proto cannot take a filter name that is taken: the protocol is "sttfast", its fields
-- keep the "stt." prefix (stt.kind, stt.session_id, stt.pn, stt.key_phase, stt.frame.type, ...;
-- none of them is one of the tunnel's).
--
-- A heuristic dissector on UDP and on WebSocket binary payloads (a ws:// capture dissects once
-- Wireshark sees the HTTP upgrade: for a port other than 80, add -d tcp.port==PORT,http). It
-- shows the plaintext header of every packet (stt.kind, stt.session_id, stt.pn, stt.key_phase),
-- the handshake messages, and every frame (stt.frame.type and its fields) of the packets that
-- "sttfast pcap decrypt" opened: those carry kind 13 (decrypted), the header as captured and the
-- plaintext frames without the GCM tag (docs/PROTOCOL.md §1, "Decrypted captures"). Lua in
-- Wireshark 4.0 has no AES-GCM, hence decryption in Go. GSO super-packets (several packets in
-- one captured datagram, on loopback and veth) are split by the rule of the same section.

local stt = Proto("sttfast", "STT (sttfast encrypted transport)")

local KIND_HANDSHAKE, KIND_PROTECTED, KIND_DECRYPTED = 1, 2, 13
local MIN_PACKET, MAC_SIZE, TAG_SIZE = 29, 32, 16

local kinds = { [1] = "handshake", [2] = "protected", [13] = "decrypted" }
local frame_names = {
  [0x00] = "PADDING", [0x01] = "HELLO", [0x02] = "CHALLENGE", [0x03] = "AUTH_PROOF",
  [0x04] = "FINAL", [0x05] = "CLOCK", [0x0a] = "KEY_SHARE", [0x0b] = "FS_REQUIRED", [0x10] = "DATA", [0x11] = "ACK", [0x12] = "NACK",
  [0x13] = "KEEP_ALIVE", [0x14] = "KEEP_ALIVE_ACK", [0x20] = "STREAM_OPEN",
  [0x21] = "STREAM_CLOSE", [0x22] = "STREAM_FIN", [0x23] = "STREAM_SKIP", [0x24] = "STREAM_KIND", [0x30] = "SESSION_CLOSE",
  [0x40] = "MAX_DATA", [0x41] = "MAX_STREAM_DATA", [0x42] = "MAX_STREAMS",
  [0x50] = "KEY_UPDATE", [0x60] = "PATH_CHALLENGE", [0x61] = "PATH_RESPONSE",
}
for t = 0x80, 0xff do frame_names[t] = "APPLICATION" end

local f = {
  version     = ProtoField.uint8("stt.ver", "Version"),
  kind        = ProtoField.uint8("stt.kind", "Kind", base.DEC, kinds),
  key_phase   = ProtoField.uint8("stt.key_phase", "Key phase"),
  pn_len      = ProtoField.uint8("stt.pn_len", "Packet number length"),
  session_id  = ProtoField.bytes("stt.session_id", "Session id"),
  pn          = ProtoField.uint64("stt.pn", "Packet number (truncated)"),
  mac         = ProtoField.bytes("stt.mac", "Handshake MAC"),
  ciphertext  = ProtoField.bytes("stt.ciphertext", "Encrypted frames"),
  tag         = ProtoField.bytes("stt.tag", "GCM tag"),
  ftype       = ProtoField.uint8("stt.frame.type", "Frame type", base.HEX, frame_names),
  stream_id   = ProtoField.uint64("stt.frame.stream_id", "Stream id"),
  offset      = ProtoField.uint64("stt.frame.offset", "Offset"),
  length      = ProtoField.uint64("stt.frame.length", "Length"),
  data        = ProtoField.bytes("stt.frame.data", "Data"),
  value       = ProtoField.uint64("stt.frame.value", "Value"),
  code        = ProtoField.uint64("stt.frame.code", "Code"),
  reason      = ProtoField.string("stt.frame.reason", "Reason"),
  hs_version  = ProtoField.uint64("stt.frame.version", "Protocol version"),
  nonce       = ProtoField.bytes("stt.frame.nonce", "Nonce"),
  node_id     = ProtoField.bytes("stt.frame.node_id", "Node id"),
  timestamp   = ProtoField.uint64("stt.frame.timestamp", "Timestamp (Unix ms)"),
  resp_nonce  = ProtoField.bytes("stt.frame.resp_nonce", "Responder nonce"),
  resp_node   = ProtoField.bytes("stt.frame.resp_node_id", "Responder node id"),
  resp_ts     = ProtoField.uint64("stt.frame.resp_timestamp", "Responder timestamp (Unix ms)"),
  largest     = ProtoField.uint64("stt.frame.ack.largest", "Largest acknowledged"),
  ack_delay   = ProtoField.uint64("stt.frame.ack.delay", "ACK delay (µs)"),
  range_count = ProtoField.uint64("stt.frame.ack.range_count", "Range count"),
  first_range = ProtoField.uint64("stt.frame.ack.first_range", "First range"),
  gap         = ProtoField.uint64("stt.frame.ack.gap", "Gap"),
  range_len   = ProtoField.uint64("stt.frame.ack.range_length", "Range length"),
  padding     = ProtoField.uint32("stt.frame.padding", "Padding bytes"),
  key_share   = ProtoField.bytes("stt.frame.key_share", "X25519 public key"),
}
stt.fields = {}
for _, v in pairs(f) do table.insert(stt.fields, v) end

local ex_malformed = ProtoExpert.new("stt.malformed", "Malformed STT frame", expert.group.MALFORMED, expert.severity.ERROR)
stt.experts = { ex_malformed }

-- varint reads the QUIC-style varint at off: value (UInt64), length; nil past the end.
local function varint(tvb, off, limit)
  if off >= limit then return nil end
  local first = tvb(off, 1):uint()
  local n = 2 ^ math.floor(first / 64)
  if off + n > limit then return nil end
  if n == 1 then return UInt64(first % 64), 1 end
  local v = tvb(off, n):uint64()
  if n == 2 then return UInt64(v:tonumber() - 0x4000), 2 end
  if n == 4 then return UInt64(v:tonumber() - 0x80000000), 4 end
  return v:band(UInt64(0xffffffff, 0x3fffffff)), 8
end

-- Each field list: {name, field, kind} where kind is "v" (varint), a number (fixed bytes), or
-- "len" (a varint length followed by that many bytes into the field named data).
local layouts = {
  [0x01] = { { "v", f.hs_version }, { 32, f.nonce }, { 8, f.node_id }, { "v", f.timestamp } },
  [0x02] = { { 32, f.nonce }, { 8, f.node_id }, { "v", f.timestamp } },
  [0x03] = { { 32, f.nonce }, { "v", f.timestamp }, { 8, f.node_id }, { 32, f.resp_nonce }, { "v", f.resp_ts }, { 8, f.resp_node } },
  [0x04] = { { "v", f.code } },
  [0x05] = { { "v", f.timestamp } },
  [0x0a] = { { 32, f.key_share } },
  [0x0b] = {},
  [0x10] = { { "v", f.stream_id }, { "v", f.offset }, { "len", f.data } },
  [0x13] = { { "v", f.value } },
  [0x14] = { { "v", f.value } },
  [0x20] = { { "v", f.stream_id } },
  [0x21] = { { "v", f.stream_id }, { "v", f.code } },
  [0x22] = { { "v", f.stream_id }, { "v", f.value } },
  -- STREAM_SKIP: stream id, offset, end, first message, message count (values in that order)
  [0x23] = { { "v", f.stream_id }, { "v", f.offset }, { "v", f.value }, { "v", f.value }, { "v", f.value } },
  -- STREAM_KIND: stream id, kind, deadline (µs)
  [0x24] = { { "v", f.stream_id }, { "v", f.value }, { "v", f.value } },
  [0x30] = { { "v", f.code }, { "reason", f.reason } },
  [0x40] = { { "v", f.value } },
  [0x41] = { { "v", f.stream_id }, { "v", f.value } },
  [0x42] = { { "v", f.value } },
  [0x50] = { { "v", f.value } },
  [0x60] = { { 8, f.data } },
  [0x61] = { { 8, f.data } },
}

-- ack adds an ACK's fields; returns the end offset or nil when malformed.
local function ack(tvb, tree, off, limit)
  local names = { f.largest, f.ack_delay, f.range_count, f.first_range }
  local count
  for i, fld in ipairs(names) do
    local v, n = varint(tvb, off, limit)
    if not v then return nil end
    tree:add(fld, tvb(off, n), v)
    if i == 3 then count = v:tonumber() end
    off = off + n
  end
  for _ = 1, count do
    for _, fld in ipairs({ f.gap, f.range_len }) do
      local v, n = varint(tvb, off, limit)
      if not v then return nil end
      tree:add(fld, tvb(off, n), v)
      off = off + n
    end
  end
  return off
end

local function nack(tvb, tree, off, limit)
  local v, n = varint(tvb, off, limit)
  if not v then return nil end
  tree:add(f.range_count, tvb(off, n), v)
  off = off + n
  for _ = 1, v:tonumber() * 2 do
    local w, m = varint(tvb, off, limit)
    if not w then return nil end
    tree:add(f.value, tvb(off, m), w)
    off = off + m
  end
  return off
end

-- frames adds every frame of tvb[off, limit); returns the list of frame names.
local function frames(tvb, pinfo, tree, off, limit)
  local seen = {}
  while off < limit do
    local t = tvb(off, 1):uint()
    local start = off
    local ft = tree:add(stt, tvb(off, 1), (frame_names[t] or string.format("unknown 0x%02x", t)))
    ft:add(f.ftype, tvb(off, 1))
    off = off + 1
    if t == 0x00 then
      while off < limit and tvb(off, 1):uint() == 0 do off = off + 1 end
      ft:add(f.padding, tvb(start, off - start), off - start)
    elseif t == 0x11 then
      off = ack(tvb, ft, off, limit)
    elseif t == 0x12 then
      off = nack(tvb, ft, off, limit)
    elseif t >= 0x80 then
      local v, n = varint(tvb, off, limit)
      if v then
        ft:add(f.value, tvb(off, n), v)
        off = off + n
        local l, m = varint(tvb, off, limit)
        if l and off + m + l:tonumber() <= limit then
          ft:add(f.length, tvb(off, m), l)
          off = off + m
          if l:tonumber() > 0 then ft:add(f.data, tvb(off, l:tonumber())) end
          off = off + l:tonumber()
        else
          off = nil
        end
      else
        off = nil
      end
    elseif layouts[t] then
      for _, item in ipairs(layouts[t]) do
        local kind, fld = item[1], item[2]
        if kind == "v" then
          local v, n = varint(tvb, off, limit)
          if not v then off = nil break end
          ft:add(fld, tvb(off, n), v)
          off = off + n
        elseif kind == "len" or kind == "reason" then
          local l, m = varint(tvb, off, limit)
          if not l or off + m + l:tonumber() > limit then off = nil break end
          ft:add(f.length, tvb(off, m), l)
          off = off + m
          if l:tonumber() > 0 then ft:add(fld, tvb(off, l:tonumber())) end
          off = off + l:tonumber()
        else
          if off + kind > limit then off = nil break end
          ft:add(fld, tvb(off, kind))
          off = off + kind
        end
      end
    else
      off = nil
    end
    if not off then
      ft:add_proto_expert_info(ex_malformed)
      return seen
    end
    ft:set_len(off - start)
    if t ~= 0x00 then table.insert(seen, frame_names[t] or "?") end
  end
  return seen
end

-- looks_like_stt checks the fixed header at off: magic, version 1, a known kind, no reserved
-- flag (and handshake flags exactly 0).
local function looks_like_stt(tvb, off, len)
  if len < MIN_PACKET - TAG_SIZE then return false end
  if tvb(off, 1):uint() ~= 0x53 then return false end
  local vk = tvb(off + 1, 1):uint()
  local kind = vk % 16
  if math.floor(vk / 16) ~= 1 or not kinds[kind] then return false end
  local flags = tvb(off + 2, 1):uint()
  if flags >= 8 then return false end
  if kind == KIND_HANDSHAKE and flags ~= 0 then return false end
  -- A decrypted packet lost its 16-byte tag; the others are at least MinPacketSize.
  return kind == KIND_DECRYPTED or len >= MIN_PACKET
end

-- segment_size finds the GSO segment size of a datagram, 0 when it is one packet.
local function segment_size(tvb, len)
  -- Only protected packets are sent with GSO; pcap decrypt writes one packet per record.
  if tvb(1, 1):uint() % 16 ~= KIND_PROTECTED then return 0 end
  local vk, sid = tvb(1, 1):uint(), tvb(3, 8):bytes()
  for size = MIN_PACKET, len - MIN_PACKET do
    if tvb(size, 1):uint() == 0x53 and tvb(size + 1, 1):uint() == vk and tvb(size + 3, 8):bytes() == sid then
      local ok = (len % size == 0) or (len % size >= MIN_PACKET)
      local o = size
      while ok and o < len do
        ok = looks_like_stt(tvb, o, len - o) and tvb(o + 1, 1):uint() == vk and tvb(o + 3, 8):bytes() == sid
        o = o + size
      end
      if ok then return size end
    end
  end
  return 0
end

local function packet(tvb, pinfo, tree, off, len)
  local vk, flags = tvb(off + 1, 1):uint(), tvb(off + 2, 1):uint()
  local kind = vk % 16
  local pnlen = 2 ^ (math.floor(flags / 2) % 4)
  local hlen = 11 + pnlen
  local t = tree:add(stt, tvb(off, len), "STT " .. kinds[kind] .. " packet")
  t:add(f.version, tvb(off + 1, 1), math.floor(vk / 16))
  t:add(f.kind, tvb(off + 1, 1), kind)
  t:add(f.key_phase, tvb(off + 2, 1), flags % 2)
  t:add(f.pn_len, tvb(off + 2, 1), pnlen)
  t:add(f.session_id, tvb(off + 3, 8))
  t:add(f.pn, tvb(off + 11, pnlen), tvb(off + 11, pnlen):uint64())
  local info
  if kind == KIND_HANDSHAKE then
    local names = frames(tvb, pinfo, t, off + hlen, off + len - MAC_SIZE)
    t:add(f.mac, tvb(off + len - MAC_SIZE, MAC_SIZE))
    info = table.concat(names, ",")
  elseif kind == KIND_PROTECTED then
    t:add(f.ciphertext, tvb(off + hlen, len - hlen - TAG_SIZE))
    t:add(f.tag, tvb(off + len - TAG_SIZE, TAG_SIZE))
    info = "protected"
  else
    info = table.concat(frames(tvb, pinfo, t, off + hlen, off + len), ",")
  end
  return info
end

local function dissect(tvb, pinfo, tree)
  local len = tvb:len()
  if not looks_like_stt(tvb, 0, len) then return false end
  pinfo.cols.protocol = "STT"
  local size = segment_size(tvb, len)
  local infos = {}
  if size == 0 then
    table.insert(infos, packet(tvb, pinfo, tree, 0, len))
  else
    local off = 0
    while off < len do
      local n = math.min(size, len - off)
      table.insert(infos, packet(tvb, pinfo, tree, off, n))
      off = off + n
    end
  end
  pinfo.cols.info = "STT " .. table.concat(infos, " | ")
  return true
end

function stt.dissector(tvb, pinfo, tree)
  return dissect(tvb, pinfo, tree) and tvb:len() or 0
end

stt:register_heuristic("udp", dissect)
-- The WebSocket dissector hands binary payloads to the "ws" heuristic list (Wireshark 3.x, 4.x).
pcall(function() stt:register_heuristic("ws", dissect) end)
