// A simulation model of an SPI NOR flash (READ, 03h, in SPI mode 0) holding the packer's image
// at byte BASE, for the test bench of a design whose weights come from flash (wqrc_wsrc_spi.v).
// Not synthesized. Bytes outside the image read as FFh, as erased flash does.
`timescale 1ns/1ps
module wqrc_spi_flash_model #(
    parameter integer W = 32,
    parameter integer DEPTH = 1,
    parameter integer BASE = 0,
    parameter FILE = "weights.mem"
) (
    input  wire cs_n,
    input  wire sck,
    input  wire mosi,
    output reg  miso
);
    reg [W-1:0] words [0:DEPTH-1];
    initial $readmemh(FILE, words);
    reg [31:0] inbits;
    integer nin, bitk, addr;
    reg reading;
    function [7:0] byte_at(input integer a);
        if (a < BASE || a >= BASE + DEPTH * (W / 8)) byte_at = 8'hFF;
        else byte_at = words[(a - BASE) / (W / 8)] >> (8 * ((a - BASE) % (W / 8)));   // its low byte
    endfunction
    initial begin nin = 0; reading = 1'b0; miso = 1'b0; end
    always @(posedge cs_n) begin nin = 0; reading = 1'b0; end
    always @(posedge sck) if (!cs_n && !reading) begin
        inbits = {inbits[30:0], mosi};
        nin = nin + 1;
        if (nin == 32) begin
            if (inbits[31:24] != 8'h03) $display("flash model: command %h is not READ (03h)", inbits[31:24]);
            reading = 1'b1; addr = inbits[23:0]; bitk = 7;
        end
    end
    always @(negedge sck) if (!cs_n && reading) begin
        miso = byte_at(addr) >> bitk;
        if (bitk == 0) begin bitk = 7; addr = addr + 1; end
        else bitk = bitk - 1;
    end
endmodule
