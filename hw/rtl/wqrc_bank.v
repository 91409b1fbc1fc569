// An activation bank of the descriptor-driven accelerator: one single-port synchronous RAM (a
// read or a write each cycle, data the cycle after the address), written the way Yosys maps it
// to an iCE40 UltraPlus SPRAM (synth_ice40 -spram) or to block RAM. wqrc_seq_top never reads
// and writes one bank in a layer (docs/targets.md, "RTL forms").
`default_nettype none
module wqrc_bank #(
    parameter integer W = 16,
    parameter integer DEPTH = 256,
    parameter integer AW = 8,
    parameter integer HUGE = 0      // 1: an UltraPlus SPRAM (Yosys's "huge" RAM), 0: block RAM
) (
    input  wire          clk,
    input  wire          we,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [AW-1:0] addr,       // every bank of a design takes the widest bank's addresses
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [W-1:0]  wdata,
    output reg  [W-1:0]  rdata
);
    /* verilator lint_off WIDTH */
    generate if (HUGE != 0) begin : spram
        (* ram_style = "huge" *) reg [W-1:0] mem [0:DEPTH-1];
        always @(posedge clk) begin
            if (we) mem[addr] <= wdata;
            else rdata <= mem[addr];
        end
    end else begin : ebr
        reg [W-1:0] mem [0:DEPTH-1];
        always @(posedge clk) begin
            if (we) mem[addr] <= wdata;
            else rdata <= mem[addr];
        end
    end endgenerate
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
