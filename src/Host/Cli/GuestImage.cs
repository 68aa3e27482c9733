using System.Security.Cryptography;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;

namespace Lockstep.Host.Cli;

/// <summary>Reads an image file and builds a machine from it, turning every failure into one clear line.</summary>
public static class GuestImage
{
    public static Machine Load(string path, uint memory, Lockstep.Engine.Recording.InputSource inputs, out byte[] sha256)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageException($"cannot read image {path}: {e.Message}");
        }
        sha256 = SHA256.HashData(bytes);
        var machine = new Machine(memory, inputs);
        try
        {
            ElfLoader.Load(machine, bytes);
        }
        catch (ImageException e)
        {
            throw new ImageException($"{path}: {e.Message}");
        }
        return machine;
    }
}
