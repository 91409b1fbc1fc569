// The ports every engine shares, included at the head of its port list (each engine declares
// IN_AW and OUT_AW, then its data ports after this): the handshake with wqrc_top's sequencer and
// the write port of the output RAM. start: one cycle, begins a pass over the whole tensor; done:
// one cycle, after the last element is written (docs/targets.md, "RTL engines").
    input  wire              clk,
    input  wire              rst,
    input  wire              start,
    output wire              done,
    output wire              out_we,
    output wire [OUT_AW-1:0] out_addr,
