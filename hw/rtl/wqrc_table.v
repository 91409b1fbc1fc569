// A constant table of the descriptor-driven accelerator (descriptors, per-channel biases and
// shifts, pooling divisors, lookup tables), loaded with $readmemh from FILE; a synchronous read.
// BLOCK chooses where it lives, so the resource estimate (wqrc/backend/fpga.py) is what Yosys
// builds: 1, block RAM; 0, logic cells (a table of a few words).
`default_nettype none
module wqrc_table #(
    parameter integer W = 8,
    parameter integer DEPTH = 1,
    parameter integer AW = 1,
    parameter integer BLOCK = 1,
    parameter FILE = "table.mem"
) (
    input  wire          clk,
    input  wire [AW-1:0] addr,
    output reg  [W-1:0]  d
);
    /* verilator lint_off WIDTH */
    generate if (BLOCK != 0) begin : ebr
        (* rom_style = "block" *) reg [W-1:0] rom [0:DEPTH-1];
        initial $readmemh(FILE, rom);
        always @(posedge clk) d <= rom[addr];
    end else begin : lut
        (* rom_style = "logic" *) reg [W-1:0] rom [0:DEPTH-1];
        initial $readmemh(FILE, rom);
        always @(posedge clk) d <= rom[addr];
    end endgenerate
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
