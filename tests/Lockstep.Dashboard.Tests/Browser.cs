using Lockstep.Harness;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Lockstep.Dashboard.Tests;

/// <summary>
/// Headless Chromium from Debian's chromium and chromium-driver packages (nothing downloaded: both paths are
/// given, so Selenium Manager is never asked), with the waits the tests need.
/// </summary>
public sealed class Browser : IDisposable
{
    private const string ChromiumPath = "/usr/bin/chromium";
    private const string DriverFolder = "/usr/bin";
    private const string DriverName = "chromedriver";

    private readonly ChromeDriver _driver;

    private Browser(ChromeDriver driver) => _driver = driver;

    public static Browser Start()
    {
        if (!File.Exists(ChromiumPath) || !File.Exists(Path.Combine(DriverFolder, DriverName)))
            throw new InvalidOperationException($"the browser tests need {ChromiumPath} and {DriverFolder}/{DriverName}: apt-get install chromium chromium-driver (.ci/run does)");
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900");
        var service = ChromeDriverService.CreateDefaultService(DriverFolder, DriverName);
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        return new Browser(new ChromeDriver(service, options, TimeSpan.FromSeconds(60)));
    }

    public void Open(Uri url) => _driver.Navigate().GoToUrl(url);

    public IWebElement Find(string css) => _driver.FindElement(By.CssSelector(css));

    public IReadOnlyList<IWebElement> FindAll(string css) => _driver.FindElements(By.CssSelector(css));

    /// <summary>The element's text, or null when there is no such element (yet).</summary>
    /// <remarks>The pages replace what changed every second: an element gone between finding and reading it is looked up again.</remarks>
    public string? TextOf(string css)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return FindAll(css).FirstOrDefault()?.Text;
            }
            catch (StaleElementReferenceException) when (attempt < 5)
            {
            }
        }
    }

    public string Title => _driver.Title;

    /// <summary>Runs <paramref name="script"/> in the page; it hands its result to its last argument (a callback), which this returns.</summary>
    public object? RunAsync(string script) => _driver.ExecuteAsyncScript(script);

    /// <summary>Clicks and accepts the confirmation the button asks for.</summary>
    public void ClickAndConfirm(string css)
    {
        Find(css).Click();
        _driver.SwitchTo().Alert().Accept();
    }

    /// <summary>Waits until <paramref name="condition"/> holds; fails naming <paramref name="what"/> and what the page shows.</summary>
    public async Task Eventually(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            try
            {
                if (condition()) return;
            }
            catch (WebDriverException)
            {
                // An element replaced by the page's next update between finding and reading it: look again.
            }
            if (DateTime.UtcNow > until)
                throw new Xunit.Sdk.XunitException($"{what}: not within {(timeout ?? TimeSpan.FromSeconds(30)).TotalSeconds} s; the page shows:\n{Find("body").Text}");
            await Task.Delay(200);
        }
    }

    /// <summary>Set to 1, the screenshots go to the repository's docs/ (the README shows these); otherwise to a temporary folder.</summary>
    public const string DocsScreenshotsVariable = "LOCKSTEP_DOCS_SCREENSHOTS";

    /// <summary>Where <see cref="Screenshot"/> saves: docs/ when <see cref="DocsScreenshotsVariable"/> asks for it, else a folder under the temporary one.</summary>
    public static string ScreenshotFolder { get; } = Environment.GetEnvironmentVariable(DocsScreenshotsVariable) == "1"
        ? Path.Combine(RepoRoot.Folder, "docs")
        : Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "lockstep-dashboard-screenshots")).FullName;

    /// <summary>Saves the page as <paramref name="name"/> in <see cref="ScreenshotFolder"/>, so a run does not rewrite the docs' pictures unless asked.</summary>
    /// <remarks>The window is made as tall as the page first, so the picture shows all of it.</remarks>
    public void Screenshot(string name)
    {
        long height = Convert.ToInt64(_driver.ExecuteScript("return document.documentElement.scrollHeight;"), System.Globalization.CultureInfo.InvariantCulture);
        var size = _driver.Manage().Window.Size;
        _driver.Manage().Window.Size = new System.Drawing.Size(size.Width, (int)Math.Clamp(height + 140, 600, 3000));
        try
        {
            _driver.GetScreenshot().SaveAsFile(Path.Combine(ScreenshotFolder, name));
        }
        finally
        {
            _driver.Manage().Window.Size = size;
        }
    }

    public void Dispose() => _driver.Quit();
}
