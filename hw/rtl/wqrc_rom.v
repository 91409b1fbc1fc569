// The weight ROM: the packer's image (docs/format.md section 4) loaded with $readmemh
// from FILE, unchanged. A code may straddle two words, so a reader that needs that
// (TWO_PORTS = 1) gets words k and k+1 in the same cycle; synchronous reads, as
// block RAM has them.
`default_nettype none
module wqrc_rom #(
    parameter integer W = 32,          // word width (the packer's --word-bits)
    parameter integer DEPTH = 1,       // words
    parameter integer AW = 1,
    parameter integer TWO_PORTS = 0,
    parameter FILE = "weights.mem"
) (
    input  wire          clk,
    input  wire [AW-1:0] addr,
    output reg  [W-1:0]  d0,          // word addr
    output reg  [W-1:0]  d1           // word addr + 1 (0 past the end), when TWO_PORTS
);
    reg [W-1:0] rom [0:DEPTH-1];
    initial $readmemh(FILE, rom);
    always @(posedge clk) d0 <= rom[addr];
    generate if (TWO_PORTS != 0) begin : second
        /* verilator lint_off WIDTH */
        wire [AW:0] next = addr + 1'b1;
        always @(posedge clk) d1 <= (next < DEPTH) ? rom[next[AW-1:0]] : {W{1'b0}};
        /* verilator lint_on WIDTH */
    end else begin : one
        always @(posedge clk) d1 <= {W{1'b0}};
    end endgenerate
endmodule
`default_nettype wire
