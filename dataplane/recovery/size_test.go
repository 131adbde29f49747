package recovery

import "unsafe"

func sizeofSender() uintptr   { return unsafe.Sizeof(Sender{}) }
func sizeofReceiver() uintptr { return unsafe.Sizeof(Receiver{}) }
func sizeofFrameRef() uintptr { return unsafe.Sizeof(FrameRef{}) }
func sizeofSlot() uintptr     { return unsafe.Sizeof(slot{}) }
