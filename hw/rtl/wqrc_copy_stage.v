// The output stage of the engines that move elements without arithmetic (pad, upsample): one
// cycle after an engine's counters put out an input address, the element read there (take) or
// the engine's fill code is written at that cycle's output index; done follows the last write.
`default_nettype none
module wqrc_copy_stage #(
    parameter integer A = 8,              // element bits
    parameter integer IW = 8,             // output index bits
    parameter integer OUT_AW = 8
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              start,
    input  wire              busy,        // the engine's: from start until done
    input  wire              running,     // an output index and address this cycle
    input  wire              take,        // this cycle's element is the input's, else fill
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [IW-1:0]     i,           // this cycle's output index (its top bit may exceed the address)
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [A-1:0]      in_d,        // the input element, a cycle after its address
    input  wire [A-1:0]      fill,
    output reg               done,
    output reg               out_we,
    output reg  [OUT_AW-1:0] out_addr,
    output reg  [A-1:0]      out_d
);
    /* verilator lint_off WIDTH */
    reg s1_v, s1_take;
    reg [OUT_AW-1:0] s1_i;
    always @(posedge clk) begin
        s1_v <= running && !rst && !start;
        s1_take <= take;
        s1_i <= i;
        out_we <= s1_v && !rst;
        out_addr <= s1_i;
        out_d <= s1_take ? in_d : fill;
        done <= busy && !start && !rst && !running && !s1_v && !out_we && !done;
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
