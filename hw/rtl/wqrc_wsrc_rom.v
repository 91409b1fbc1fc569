// A weight source of the descriptor-driven accelerator (wqrc_seq_conv.v's w_* port) from an
// on-chip ROM: the packer's image (docs/format.md section 4), unchanged. w_seek starts at word
// w_from; each request is answered the next cycle.
`default_nettype none
module wqrc_wsrc_rom #(
    parameter integer W = 32,
    parameter integer DEPTH = 1,
    parameter integer AW = 1,
    parameter FILE = "weights.mem"
) (
    input  wire          clk,
    input  wire          seek,
    input  wire [AW-1:0] from,
    input  wire          req,
    output reg           valid,
    output reg  [W-1:0]  data
);
    reg [W-1:0] rom [0:DEPTH-1];
    initial $readmemh(FILE, rom);
    reg [AW-1:0] addr;
    always @(posedge clk) begin
        valid <= req && !seek;
        data <= rom[addr];                   // DEPTH covers the reader's look-ahead past the image
        if (seek) addr <= from;
        else if (req) addr <= addr + 1'b1;
    end
endmodule
`default_nettype wire
